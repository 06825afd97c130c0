"""The registry: what the hooks returned, indexed for lookups, and where names collide.

Built in one piece from the hook results (:func:`build`) and never changed afterwards: the
manager replaces it as a whole when plugins or preferences change.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ._discovery import normalize
from .types import SPEC_TYPES, ComponentSpec


def split_source(source: str | None) -> tuple[str, str | None]:
    """``(distribution, version)`` of a spec's ``source`` (``"dist==1.0"``; an in-process plugin has no version).

    ``None`` gives ``("", None)``.
    """
    distribution, sep, version = (source or "").partition("==")
    return distribution, (version if sep else None)


@dataclass(frozen=True)
class Conflict:
    """A (kind, name) that more than one plugin provides for a shared framework.

    Args:
        kind: ``"schedule"``, ``"optimizer"`` or ``"accumulator"``.
        name: the contested name.
        sources: the providing distributions, ``"dist==version"``, sorted.
        preferred: the source chosen through ``HFOPT_PREFER`` / :meth:`PluginManager.prefer`,
            or ``None`` when the conflict is unresolved (looking the name up raises).
    """

    kind: str
    name: str
    sources: tuple[str, ...]
    preferred: str | None = None


@dataclass(frozen=True)
class Registry:
    """One complete, immutable build: what lookups read.

    Args:
        by_name: kind -> name (aliases included) -> the specs registered under it.
        exports: facade name -> ``[(import string, spec), ...]``.
        provides: plugin label (``"dist==version"`` or in-process name) -> ``("kind:name", ...)``.
    """

    by_name: dict
    exports: dict
    provides: dict


def build(results) -> Registry:
    """Index hook results (``{hook: [[spec, ...] per plugin]}``) by kind and name, export and source."""
    by_name = {kind: defaultdict(list) for kind in SPEC_TYPES}
    exports: dict[str, list] = defaultdict(list)
    by_source: dict[str, list[str]] = defaultdict(list)
    for result in results.values():
        for spec in (s for specs in result or () for s in specs):
            for n in spec.names:
                by_name[spec.kind][n].append(spec)
            for export, target in spec.exports.items():
                if all(t != target for t, _ in exports[export]):
                    exports[export].append((target, spec))
            by_source[spec.source].append(
                f"{spec.kind}:{spec.name}" + (f" (alias {', '.join(spec.aliases)})" if spec.aliases else ""))
    provides = {source: tuple(sorted(set(items))) for source, items in by_source.items()}
    return Registry({k: dict(v) for k, v in by_name.items()}, dict(exports), provides)


def overlapping(specs: list[ComponentSpec]) -> bool:
    """Whether two of ``specs`` share a framework (only then is a name contested)."""
    seen: set[str] = set()
    for spec in specs:
        if seen & set(spec.frameworks):
            return True
        seen |= set(spec.frameworks)
    return False


def preferred(specs: list[ComponentSpec], wanted: str | None) -> ComponentSpec | None:
    """The spec of ``specs`` whose distribution is ``wanted`` (normalized), or ``None``."""
    if wanted is None:
        return None
    for spec in specs:
        if normalize(split_source(spec.source)[0]) == wanted:
            return spec
    return None


def conflicts(registry: Registry, preferences: dict) -> list[Conflict]:
    """Every (kind, name) provided by more than one plugin for a shared framework, sorted."""
    out = []
    for kind, names in registry.by_name.items():
        for name, specs in sorted(names.items()):
            if len(specs) < 2 or not overlapping(specs):
                continue
            chosen = preferred(specs, preferences.get((kind, name)))
            out.append(Conflict(kind, name, tuple(sorted(s.source or "?" for s in specs)),
                                chosen.source if chosen is not None else None))
    return out
