"""Deprecated import paths of hfopt-core 0.1: one warning helper for the alias modules.

The 0.1 documentation published ``hfopt_core.formulas``, ``hfopt_core.schedules``,
``hfopt_core.ops``, ``hfopt_core.lazy``, ``hfopt_core.catalog`` and ``hfopt_core.entrypoints``.
They were made private without a deprecation period; each is back as a thin alias module that
re-exports the same objects and warns once, on import, naming the new import. They go away in
hfopt-core 0.2 at the earliest (see CHANGELOG.md).
"""
from __future__ import annotations

import warnings

#: the first version that may drop the aliases
REMOVED_IN = "0.2"


def warn_moved(old: str, instead: str) -> None:
    """Warn (``DeprecationWarning``) that module ``old`` is deprecated; ``instead`` says what to use.

    Args:
        old: the deprecated module path (``"hfopt_core.formulas"``).
        instead: the replacement (``"from hfopt_core.plugin import warmup_then"``).

    Called at the alias module's top level; the warning points at the importing line.
    """
    warnings.warn(f"{old} is deprecated and will be removed in hfopt-core {REMOVED_IN}: use {instead}",
                  DeprecationWarning, stacklevel=3)
