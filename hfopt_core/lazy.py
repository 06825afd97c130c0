"""Deprecated alias of :func:`hfopt_core.plugin.lazy_exports` (the 0.1 import path)."""
from __future__ import annotations

from ._deprecated import warn_moved
from ._lazy import FRAMEWORK_EXTRAS, missing_framework
from .plugin import lazy_exports

__all__ = ["FRAMEWORK_EXTRAS", "lazy_exports", "missing_framework"]

warn_moved(__name__, "from hfopt_core.plugin import lazy_exports")
