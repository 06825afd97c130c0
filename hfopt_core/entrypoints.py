"""Deprecated: the 0.1 entry-point reader, now a thin layer over :mod:`importlib.metadata`.

Discovery is the manager's job (:func:`hfopt_core.manager.installed_entry_points`, which
reports each plugin with its distribution and version); this module keeps the 0.1 names working.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from ._deprecated import warn_moved
from .manager import normalize

__all__ = ["EntryPoint", "entry_points", "normalize"]


@dataclass(frozen=True)
class EntryPoint:
    """One entry point: ``name = value`` declared by ``distribution`` ``version``."""

    name: str
    value: str
    distribution: str | None
    version: str | None

    def load(self):
        """Import the module and return the object the value names (``module:attr`` or ``module``)."""
        module_name, _, attr = self.value.partition(":")
        obj = importlib.import_module(module_name.strip())
        for part in filter(None, attr.split("[")[0].strip().split(".")):
            obj = getattr(obj, part)
        return obj


def entry_points(group: str, path: list[str] | None = None) -> list[EntryPoint]:
    """Every entry point of ``group`` on ``path`` (default ``sys.path``), in ``sys.path`` order.

    Args:
        group: the entry-point group (``"hfopt"``).
        path: folders to search. Defaults to ``None`` (``sys.path``).

    The first distribution of a normalized name wins, as in :mod:`importlib.metadata`.
    """
    from importlib import metadata

    found: list[EntryPoint] = []
    seen: set[str] = set()
    for dist in metadata.distributions(**({} if path is None else {"path": list(path)})):
        key = normalize(dist.name or "")
        if key in seen:
            continue
        seen.add(key)
        found += [EntryPoint(ep.name, ep.value, key, dist.version) for ep in dist.entry_points if ep.group == group]
    return found


warn_moved(__name__, "hfopt_core.manager.installed_entry_points() (the manager's discovery)")
