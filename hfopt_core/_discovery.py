"""Discovery: the ``"hfopt"`` entry points of the installed distributions, read through
:mod:`importlib.metadata` (nothing is imported here).

Each entry point becomes one :class:`~hfopt_core.types.PluginInfo`. A distribution whose metadata
cannot be read, whose entry-point value is empty or malformed, or which declares the same
entry-point name or value twice is reported ``"broken"`` with the distribution, the value and
the reason, before anything of it is imported.
"""
from __future__ import annotations

import functools
import pkgutil
import re
import sys

from .errors import _shortened
from .types import PluginInfo

ENTRY_POINT_GROUP = "hfopt"


def normalize(name: str) -> str:
    """PEP 503 normalized form of a distribution or plugin name (``Foo_Bar`` -> ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=None)
def resolve(import_string: str):
    """The object an import string names (``"package.module:attr.sub"``), cached per process.

    This is :func:`pkgutil.resolve_name`; failures are not cached.
    """
    return pkgutil.resolve_name(import_string)


#: the most characters of an exception's message a reason repeats
MAX_REASON = 500


def describe_exception(exc: BaseException) -> str:
    """``"Type: message"`` (or ``"Type"`` when the message is empty), for reasons and warnings.

    A plugin's exception is untrusted: its message is put on one line and cut to
    :data:`MAX_REASON` characters, and one whose ``str()`` itself raises is named by its type alone.
    """
    try:
        message = " ".join(str(exc).split())
    except BaseException:  # noqa: BLE001 - a hostile __str__ must not break the report
        message = "(its message cannot be shown)"
    message = _shortened(message, MAX_REASON)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def metadata():
    """:mod:`importlib.metadata` (the backport on Python 3.9)."""
    if sys.version_info >= (3, 10):
        from importlib import metadata as module
    else:  # pragma: no cover - the backport has the 3.10+ API
        import importlib_metadata as module
    return module


def _dist_key(dist) -> str:
    # importlib.metadata's own de-duplication key: the name from the folder, no METADATA parse
    key = getattr(dist, "_normalized_name", None)
    return normalize(key) if key else normalize(dist.metadata["Name"] or "")


def _declares_group(dist, group: str) -> bool:
    """Whether undecodable ``entry_points.txt`` bytes mention ``[group]`` (unknown: ``True``)."""
    path = getattr(dist, "_path", None)
    try:
        return f"[{group}]".encode() in (path / "entry_points.txt").read_bytes()
    except (OSError, TypeError):
        return True


def malformed_value(value: str) -> str | None:
    """Why an entry-point value cannot name a module (``None`` when it is well formed).

    Well formed is what :class:`importlib.metadata.EntryPoint` loads: ``package.module`` or
    ``package.module:attribute``, optionally followed by ``[extras]``.
    """
    if not value.strip():
        return "it is empty"
    if metadata().EntryPoint.pattern.match(value) is None:
        return "it is not 'package.module' or 'package.module:attribute'"
    return None


def _check_entry_points(name: str, version, eps) -> str | None:
    """Why ``eps`` (one distribution's entry points in the group) cannot be loaded, or ``None``."""
    label = f"{name}=={version}"
    for ep in eps:
        why = malformed_value(ep.value)
        if why is not None:
            return f"{label} declares the hfopt entry point {ep.name!r} with the value {ep.value!r}: {why}"
    for field in ("name", "value"):
        seen = {}
        for ep in eps:
            key = getattr(ep, field)
            if key in seen:
                first = seen[key]
                return (f"{label} declares the hfopt entry point {field} {key!r} twice "
                        f"({first.name} = {first.value!r} and {ep.name} = {ep.value!r}); "
                        "a distribution declares one entry point, named after itself")
            seen[key] = ep
    return None


def installed_entry_points(group: str = ENTRY_POINT_GROUP) -> list[PluginInfo]:
    """One :class:`PluginInfo` per entry point of ``group`` of each installed distribution.

    Args:
        group: the entry-point group. Defaults to ``"hfopt"``.

    In ``sys.path`` order; the first distribution of a name on ``sys.path`` wins, as in
    :mod:`importlib.metadata`. The plugin is named after its distribution (``"dist:entry-point"``
    when the distribution declares several entry points in ``group``) and has status ``"ok"``
    (not loaded yet). A distribution whose metadata cannot be read is returned ``"broken"`` with
    the reason when it declares (or may declare) ``group``, and skipped otherwise: an unrelated
    broken package is not ours to report. A distribution with an empty or malformed entry-point
    value, or the same entry-point name or value twice, is one ``"broken"`` record naming the value.
    """
    found: list[PluginInfo] = []
    seen: set[str] = set()
    for dist in metadata().distributions():
        key = "?"
        try:
            key = _dist_key(dist)
            if key in seen:
                continue
            seen.add(key)
            text = dist.read_text("entry_points.txt")
            if not text or f"[{group}]" not in text:
                continue
            eps = [ep for ep in dist.entry_points if ep.group == group]
            meta = dist.metadata  # parsed once: Name and Version
            name, version = meta["Name"] or key, meta["Version"]
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - one unreadable distribution must not stop discovery
            if isinstance(exc, UnicodeDecodeError) and not _declares_group(dist, group):
                continue
            found.append(PluginInfo(key, key, None, "broken", f"unreadable metadata: {describe_exception(exc)}"))
            continue
        if not eps:
            continue
        problem = _check_entry_points(name, version, eps)
        if problem is not None:
            found.append(PluginInfo(name, name, version, "broken", problem,
                                    entry_point=", ".join(ep.value for ep in eps)))
            continue
        for ep in eps:
            plugin = name if len(eps) == 1 else f"{name}:{ep.name}"
            found.append(PluginInfo(plugin, name, version, "ok", entry_point=ep.value))
    return found
