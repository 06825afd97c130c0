"""The plugin manager: one object that loads the installed plugins and answers lookups.

One :class:`PluginManager` per process (:func:`get_manager`) finds the ``"hfopt"`` entry points
of every installed distribution, imports each plugin module, registers it with pluggy under its
distribution's name, calls the hooks through pluggy and answers lookups by (kind, name, framework).
Each job lives in a module of its own, and this module composes them (and stays the documented
import path of all the names below):

* discovery: :mod:`hfopt_core._discovery` (:func:`installed_entry_points`, :func:`normalize`, :func:`resolve`);
* environment policy: :mod:`hfopt_core._environment` (the ``HFOPT_*`` variables);
* fault isolation: :mod:`hfopt_core._isolation` (what pluggy registers is a guarded stand-in);
* registry and conflicts: :mod:`hfopt_core._registry` (:class:`Conflict`);
* doctor: :mod:`hfopt_core._doctor` (:class:`Problem`).

A plugin is identified by the distribution that ships it: two distributions whose entry points
share a name are two plugins, and neither can shadow the other. Whatever goes wrong inside one
plugin (its import raises, even ``SystemExit``; a hook raises or returns something that is not
a spec; it implements a hook that does not exist; its entry point provides no hook at all) or in
one distribution's metadata (unreadable, an empty or malformed entry-point value, an entry point
declared twice) marks only that plugin broken, with the reason; the others keep working in this
call and every later one. Loading is all-or-nothing: the registry a lookup sees is only ever
replaced by a complete one.

Environment variables (read when a manager first loads; ``hfopt doctor`` checks them):

``HFOPT_DISABLE_PLUGIN_AUTOLOAD``
    ``1``/``true``: import no installed plugin (``hfopt list`` still lists them, as disabled;
    plugins can still be registered in code).
``HFOPT_LOAD_PLUGINS``
    comma-separated allow-list of plugin or distribution names; every other plugin is disabled.
    Set but empty: load none. Names that match no installed plugin are warned about.
``HFOPT_DISABLE_PLUGINS``
    comma-separated deny-list of plugin or distribution names (unknown names are warned about).
``HFOPT_PREFER``
    ``kind:name=distribution`` pairs, comma-separated (``schedule:cosine=hfopt-schedule-cosine``):
    which distribution provides a name that several provide, without disabling the others.
``HFOPT_STRICT_PLUGINS``
    ``1``/``true``: while any plugin is broken, every lookup raises :class:`PluginLoadError` (for CI).

A flag whose value is neither true (``1/true/yes/on``) nor false (``0/false/no/off``) counts as
set; a list that names no plugin (``","``) counts as empty; an ``HFOPT_*`` name that is none of
these is ignored. Each of these is warned about (:class:`HfoptPluginWarning`) and reported by
``hfopt doctor``.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import threading
import warnings

import pluggy

from . import _environment, _registry, hookspecs
from ._catalog import distribution_for
from ._discovery import ENTRY_POINT_GROUP, installed_entry_points, metadata, normalize, resolve
from ._discovery import describe_exception as _describe
from ._doctor import Problem, conflict_problems, plugin_problems, preference_problems
from ._doctor import enable_fix as _enable_fix
from ._isolation import guarded
from ._registry import Conflict, Registry, split_source
from .errors import (
    FrameworkError,
    HfoptPluginWarning,
    PluginConflictError,
    PluginLoadError,
    UnknownNameError,
)
from .types import SPEC_TYPES, ComponentSpec, PluginInfo

__all__ = [
    "ENTRY_POINT_GROUP", "Conflict", "PluginManager", "Problem", "get_manager", "installed_entry_points",
    "normalize", "resolve", "set_manager",
]


class _HookManager(pluggy.PluginManager):
    """pluggy's manager, looking only at attributes named like a hook (``hfopt_*``).

    ``parse_hookimpl_opts`` is pluggy's extension point for this; skipping every other
    attribute keeps registering 200 plugins a few milliseconds. pluggy still validates what it
    finds (unknown ``hfopt_*`` names, signatures, wrappers that are not generators).
    """

    def parse_hookimpl_opts(self, plugin, name: str):
        """pluggy's options for ``name`` when it starts with ``hfopt_``, else ``None``."""
        if not name.startswith("hfopt_"):
            return None
        return super().parse_hookimpl_opts(plugin, name)


class PluginManager:
    """Discovers plugins and keeps the registry of what they provide.

    Args:
        environ: mapping the ``HFOPT_*`` variables are read from. Defaults to ``os.environ``.

    Entry points are loaded on first use; hooks are called through pluggy once and the result
    cached until a plugin is registered, unregistered or a preference changes.
    """

    def __init__(self, environ=None):
        self._environ = os.environ if environ is None else environ
        self._pm = _HookManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, PluginInfo] = {}
        self._objects: dict[str, object] = {}  # plugin name -> the registered module/object (not its stand-in)
        self._names_by_id: dict[int, str] = {}  # id(that object) -> plugin name; the objects are kept alive above
        self._loaded = False
        self._registry: Registry | None = None
        self._faults: dict[str, str] = {}
        self._warned: set[str] = set()
        self._notes: list[Problem] = []  # what is wrong with the HFOPT_* variables
        self._preferences: dict[tuple[str, str], str] = {}  # set in code: win over HFOPT_PREFER
        self._env_preferences: dict[tuple[str, str], str] = {}
        self._lock = threading.RLock()

    # -- configuration -------------------------------------------------------------------------
    @property
    def strict(self) -> bool:
        """Whether broken plugins make every lookup fail (``HFOPT_STRICT_PLUGINS``)."""
        return _environment.flag(self._environ, "HFOPT_STRICT_PLUGINS")

    def prefer(self, kind: str, name: str, distribution: str | None) -> None:
        """Choose which distribution provides ``kind:name`` when several do (``None`` clears it).

        Args:
            kind: ``"schedule"``, ``"optimizer"`` or ``"accumulator"``.
            name: the name (or alias) several plugins provide.
            distribution: the distribution (or plugin) name to use for it.

        Overrides ``HFOPT_PREFER`` for that name; the choice shows in ``hfopt list`` and in the
        resolved spec's ``source``.
        """
        if kind not in SPEC_TYPES:
            raise ValueError(f"kind must be one of {sorted(SPEC_TYPES)}, got {kind!r}")
        with self._lock:
            if distribution is None:
                self._preferences.pop((kind, name), None)
            else:
                self._preferences[(kind, name)] = normalize(distribution)

    def _note(self, problem: Problem) -> None:
        self._notes.append(problem)
        self._warn(f"{problem.category}:{problem.message}", f"{problem.message}. {problem.fix}")

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, HfoptPluginWarning, stacklevel=5)

    # -- loading -------------------------------------------------------------------------------
    def load_entrypoints(self) -> None:
        """Load every installed ``"hfopt"`` plugin once, honouring the ``HFOPT_*`` variables.

        All or nothing: interrupted (``KeyboardInterrupt``), it leaves the manager as it was and
        the next call starts over.
        """
        with self._lock:
            if self._loaded:
                return
            before = set(self._plugins)
            try:
                self._load_entrypoints()
            except BaseException:
                for name in set(self._plugins) - before:
                    self._forget(name)
                self._notes.clear()
                raise
            self._loaded = True
            self._registry = None

    def _load_entrypoints(self) -> None:
        installed = [i for i in installed_entry_points() if i.name not in self._plugins]
        policy = _environment.read_policy(self._environ, installed)
        for problem in policy.problems:
            self._note(problem)
        self._env_preferences = dict(policy.preferences)
        for info in installed:
            disabled = policy.disabled_because({normalize(info.name), normalize(info.distribution)})
            if info.status == "broken":
                self._plugins[info.name] = self._broken(info, info.reason)
            elif disabled is not None:
                self._plugins[info.name] = dataclasses.replace(info, status="disabled", reason=disabled)
            else:
                self._load_one(info)

    def _load_one(self, info: PluginInfo) -> None:
        """Import one installed plugin and register it; any failure marks only it broken."""
        where = f"entry point {info.entry_point!r} of {info.label}"
        try:
            module = metadata().EntryPoint(info.name, info.entry_point, ENTRY_POINT_GROUP).load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit at import is this plugin's fault only
            self._plugins[info.name] = self._broken(info, f"failed to import {info.entry_point!r}: {_describe(exc)}")
            return
        self._plugins[info.name] = info
        try:
            self._add(module, info)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001
            self._plugins[info.name] = self._broken(info, _describe(exc))
            return
        if not self._pm.get_plugin(info.name).hooks:
            self._forget(info.name)
            self._plugins[info.name] = self._broken(
                info, f"{where} provides no hfopt hook (none of {', '.join(hookspecs.HOOKS)}): it names a "
                      f"{type(module).__name__}, not a module or object with @hookimpl functions")

    def _add(self, plugin, info: PluginInfo) -> None:
        """Register ``plugin``'s guarded stand-in with pluggy: validated (unknown hook names too), or not at all."""
        if id(plugin) in self._names_by_id:
            raise ValueError(f"{getattr(plugin, '__name__', plugin)!r} is already registered as plugin "
                             f"{self._names_by_id[id(plugin)]!r}")
        standin = guarded(plugin, info.name, info.label, self._pm.parse_hookimpl_opts, self._fault)
        self._pm.register(standin, name=info.name)
        try:
            self._pm.check_pending()  # unknown hook names: pluggy's own validation
        except BaseException:
            self._pm.unregister(name=info.name)
            raise
        self._objects[info.name] = plugin
        self._names_by_id[id(plugin)] = info.name

    def _fault(self, plugin: str, reason: str) -> None:
        self._faults.setdefault(plugin, reason)

    def _broken(self, info: PluginInfo, reason: str) -> PluginInfo:
        broken = dataclasses.replace(info, status="broken", reason=reason, provides=())
        if not self.strict:
            self._warn(f"broken:{info.name}", f"hfopt plugin {broken.label} is broken and was skipped: {reason}")
        return broken

    def _forget(self, name: str) -> None:
        if self._pm.has_plugin(name):
            self._pm.unregister(name=name)
        self._drop_object(name)
        self._plugins.pop(name, None)

    def _drop_object(self, name: str) -> None:
        plugin = self._objects.pop(name, None)
        if plugin is not None:
            self._names_by_id.pop(id(plugin), None)

    def register(self, plugin, name: str | None = None, distribution: str | None = None,
                 version: str | None = None) -> str:
        """Register an in-process plugin (a module or object with hookimpls).

        Args:
            plugin: the object holding ``@hookimpl`` functions.
            name: its plugin name. Defaults to pluggy's canonical name for the object.
            distribution: distribution to credit in messages. Defaults to ``None``.
            version: that distribution's version. Defaults to ``None``.

        Returns the plugin name. Raises ``ValueError`` if the name is already registered and
        :class:`PluginLoadError` when pluggy rejects the plugin (an unknown hook, a bad signature).
        """
        with self._lock:
            name = name or self._pm.get_canonical_name(plugin)
            if name in self._plugins or self._pm.has_plugin(name):
                raise ValueError(f"a plugin named {name!r} is already registered")
            info = PluginInfo(name, distribution, version, "ok")
            self._plugins[name] = info
            try:
                self._add(plugin, info)
            except pluggy.PluginValidationError as exc:
                self._plugins.pop(name)
                raise PluginLoadError(f"plugin {name!r} is invalid: {exc}") from exc
            except BaseException:
                self._plugins.pop(name)
                raise
            self._registry = None
            return name

    def unregister(self, name: str) -> None:
        """Remove the plugin registered under ``name``."""
        with self._lock:
            self._forget(name)
            self._registry = None

    # -- the registry --------------------------------------------------------------------------
    def _build(self) -> Registry:
        registry = self._registry
        if registry is not None:
            return registry
        self.load_entrypoints()
        with self._lock:
            if self._registry is None:
                self._registry = self._call_hooks()
            return self._registry

    def _call_hooks(self) -> Registry:
        """Call every hook through pluggy; a plugin that faults is dropped and the call redone."""
        while True:
            self._faults = {}
            results = {hook: getattr(self._pm.hook, hook)() for hook in hookspecs.HOOKS}
            faults, self._faults = self._faults, {}
            if not faults:
                break
            for name, reason in faults.items():
                self._pm.unregister(name=name)
                self._drop_object(name)
                self._plugins[name] = self._broken(self._plugins[name], reason)
        registry = _registry.build(results)
        for name, info in self._plugins.items():
            if info.status == "ok":
                self._plugins[name] = dataclasses.replace(info, provides=registry.provides.get(info.label, ()))
        return registry

    def _checked(self) -> Registry:
        """The registry, or :class:`PluginLoadError` in strict mode while a plugin is broken."""
        registry = self._build()
        if self.strict:
            broken = [p for p in self._plugins.values() if p.status == "broken"]
            if broken:
                details = "; ".join(f"{p.label}: {p.reason}" for p in sorted(broken, key=lambda p: p.name))
                raise PluginLoadError(f"HFOPT_STRICT_PLUGINS is set and {len(broken)} hfopt plugin(s) are broken: "
                                      f"{details}")
        return registry

    def plugins(self) -> list[PluginInfo]:
        """Every known plugin (ok, broken or disabled), sorted by name. Never raises for broken ones."""
        self._build()
        return [self._plugins[n] for n in sorted(self._plugins)]

    def specs(self, kind: str) -> list[ComponentSpec]:
        """The specs of one kind, one per (name, source), sorted by name."""
        seen, out = set(), []
        for specs in self._checked().by_name[kind].values():
            for spec in specs:
                if id(spec) not in seen:
                    seen.add(id(spec))
                    out.append(spec)
        return sorted(out, key=lambda s: (s.name, s.source or ""))

    def names(self, kind: str) -> list[str]:
        """Sorted names (aliases included) registered for ``kind``."""
        return sorted(self._checked().by_name[kind])

    def conflicts(self) -> list[Conflict]:
        """Every (kind, name) provided by more than one plugin for a shared framework."""
        return _registry.conflicts(self._build(), self._all_preferences())

    def _all_preferences(self) -> dict[tuple[str, str], str]:
        return {**self._env_preferences, **self._preferences}

    def lookup(self, kind: str, name: str, framework: str | None = None) -> ComponentSpec:
        """The single spec registered for ``kind`` under ``name`` that supports ``framework``.

        Raises :class:`UnknownNameError` (a ``ValueError``) when nothing provides the name,
        :class:`FrameworkError` when nothing provides it for ``framework``,
        :class:`PluginConflictError` when several distributions provide it for the same framework
        and no preference picks one, and :class:`PluginLoadError` in strict mode while a plugin
        is broken.
        """
        registry = self._checked().by_name[kind]
        candidates = registry.get(name, [])
        if not candidates:
            raise self._unknown(kind, name, sorted(registry))
        if framework is not None:
            fitting = [s for s in candidates if framework in s.frameworks]
            if not fitting:
                offered = sorted({f for s in candidates for f in s.frameworks})
                raise FrameworkError(
                    f"{kind} {name!r} ({candidates[0].source}) supports {', '.join(offered)}, "
                    f"not {framework}" + (" (pass optimizer=None only where 'python' is supported)"
                                          if framework == "python" else ""))
            candidates = fitting
        if len(candidates) > 1:
            wanted = self._all_preferences().get((kind, name))
            chosen = _registry.preferred(candidates, wanted)
            if chosen is not None:
                return chosen
            sources = sorted(s.source or "?" for s in candidates)
            why = (f" HFOPT_PREFER / prefer() names {wanted!r}, which is not one of them." if wanted else "")
            first = split_source(sources[0])[0]
            raise PluginConflictError(
                f"{kind} {name!r} is provided by more than one distribution: {' and '.join(sources)}.{why}\n"
                f"Pick one with HFOPT_PREFER={kind}:{name}={first} (or get_manager().prefer({kind!r}, {name!r}, "
                f"{first!r})), or uninstall or disable the other.")
        return candidates[0]

    def _unknown(self, kind: str, name: str, installed: list[str]) -> UnknownNameError:
        lowered = {n.lower(): n for n in installed}
        close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
        distribution = distribution_for(kind, name)
        hint = None
        if distribution is not None:
            present = [p for p in self._plugins.values() if normalize(p.distribution or "") == distribution]
            if present and present[0].status != "ok":
                p = present[0]
                fix = _enable_fix(p) if p.status == "disabled" else "run `hfopt doctor`"
                hint = f"It is provided by {p.label}, which is installed but {p.status}: {p.reason}; {fix}."
            elif not present:
                hint = f"It is provided by the distribution {distribution!r}:\n    pip install {distribution}"
        elif any(p.status != "ok" for p in self._plugins.values()):
            hint = "Some installed plugins are disabled or broken: run `hfopt doctor`."
        return UnknownNameError(kind, name, installed, lowered[close[0]] if close else None, hint=hint)

    def export_target(self, export: str) -> str:
        """Import string of the facade name ``export``; ``KeyError`` when no plugin exports it."""
        targets = self._checked().exports.get(export)
        if not targets:
            raise KeyError(export)
        if len(targets) > 1:
            sources = " and ".join(sorted(spec.source or "?" for _, spec in targets))
            raise PluginConflictError(f"{export!r} is exported by more than one distribution: {sources}")
        return targets[0][0]

    def exports(self) -> list[str]:
        """Every facade name the installed plugins export, sorted."""
        return sorted(self._checked().exports)

    def plugin_for(self, distribution: str) -> PluginInfo | None:
        """The installed plugin shipped by ``distribution`` (any status), or ``None``."""
        self._build()
        wanted = normalize(distribution)
        for info in self._plugins.values():
            if normalize(info.distribution or info.name) == wanted:
                return info
        return None

    # -- diagnosis -----------------------------------------------------------------------------
    def diagnose(self) -> list[Problem]:
        """Everything ``hfopt doctor`` reports: bad ``HFOPT_*`` variables, broken and disabled plugins,
        conflicts, preferences that name no provider, ``TF_USE_LEGACY_KERAS``/``KERAS_BACKEND``
        values that do not do what they seem to, and deprecated variables that are set (notes)."""
        registry = self._build()
        return (list(self._notes) + _environment.framework_variable_problems(self._environ)
                + _environment.deprecated_variable_notes(self._environ)
                + plugin_problems(self.plugins()) + conflict_problems(self.conflicts())
                + preference_problems(self._all_preferences(),
                                      lambda kind, name: registry.by_name.get(kind, {}).get(name, [])))


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_manager() -> PluginManager:
    """The process-wide manager, created (and its entry points loaded) on first use."""
    global _manager
    if _manager is None:
        with _manager_lock:
            if _manager is None:
                _manager = PluginManager()
    return _manager


def set_manager(manager: PluginManager | None) -> PluginManager | None:
    """Replace the process-wide manager (``None``: a fresh one on next use); returns the old one.

    Meant for tests, which build a fresh :class:`PluginManager` and register throwaway plugins.
    """
    global _manager
    with _manager_lock:
        old, _manager = _manager, manager
    return old
