"""Plugin discovery and the component registry.

One :class:`PluginManager` per process (:func:`get_manager`) loads the ``"hfopt"`` entry points
once, calls every plugin's hooks once, tags each spec with its distribution and answers lookups
by (kind, name, framework). Broken plugins are reported once and skipped; conflicts are raised
when the conflicting name is looked up.

Environment variables (read when a manager loads its entry points):

``HFOPT_DISABLE_PLUGIN_AUTOLOAD``
    ``1``/``true``: load no entry points at all (plugins can still be registered in code).
``HFOPT_LOAD_PLUGINS``
    comma-separated allow-list of plugin or distribution names; every other plugin is disabled.
    Set but empty: load none.
``HFOPT_DISABLE_PLUGINS``
    comma-separated deny-list of plugin or distribution names.
``HFOPT_STRICT_PLUGINS``
    ``1``/``true``: a plugin that fails to load raises :class:`PluginLoadError` (for CI).
"""
from __future__ import annotations

import difflib
import importlib
import os
import threading
import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import pluggy

from . import entrypoints, hookspecs
from .entrypoints import normalize
from .errors import (
    FrameworkError,
    HfoptPluginWarning,
    PluginConflictError,
    PluginLoadError,
    UnknownNameError,
)
from .types import SPEC_TYPES, ComponentSpec, PluginInfo

ENTRY_POINT_GROUP = "hfopt"
_TRUE = {"1", "true", "yes", "on"}


def _env_flag(environ, key: str) -> bool:
    return environ.get(key, "").strip().lower() in _TRUE


def _env_list(environ, key: str) -> set[str] | None:
    value = environ.get(key)
    if value is None:
        return None
    return {normalize(v.strip()) for v in value.split(",") if v.strip()}


_resolved: dict[str, object] = {}


def resolve(import_string: str):
    """Import ``"package.module:attr.sub"`` and return the attribute (cached per process)."""
    try:
        return _resolved[import_string]
    except KeyError:
        pass
    module_name, _, attr_path = import_string.partition(":")
    obj = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    _resolved[import_string] = obj
    return obj


class _PluggyManager(pluggy.PluginManager):
    """pluggy's manager, looking only at ``hfopt_*`` attributes and remembering unknown hook names."""

    def __init__(self):
        super().__init__(hookspecs.PROJECT)
        self.unknown_hooks: list[str] = []

    def parse_hookimpl_opts(self, plugin, name: str):
        if not name.startswith("hfopt_"):
            return None
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None and name not in hookspecs.HOOKS:
            self.unknown_hooks.append(name)
            return None
        return opts


@dataclass
class _Plugin:
    name: str
    distribution: str | None = None
    version: str | None = None
    status: str = "ok"
    reason: str = ""
    provides: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name if self.distribution is None else f"{self.distribution}=={self.version}"

    def info(self) -> PluginInfo:
        return PluginInfo(self.name, self.distribution, self.version, self.status, self.reason, tuple(self.provides))


class PluginManager:
    """Discovers plugins and keeps the registry of what they provide.

    Args:
        environ: mapping the ``HFOPT_*`` variables are read from. Defaults to ``os.environ``.

    Entry points are loaded on first use (:meth:`load_entrypoints`); hooks are called once and
    their specs cached until another plugin is registered.
    """

    def __init__(self, environ=None):
        self._environ = os.environ if environ is None else environ
        self._pm = _PluggyManager()
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, _Plugin] = {}
        self._entrypoints_loaded = False
        self._registry: dict[str, dict[str, list[ComponentSpec]]] | None = None
        self._exports: dict[str, list[tuple[str, ComponentSpec]]] = {}
        self._lock = threading.RLock()

    # -- loading ---------------------------------------------------------------------------
    @property
    def strict(self) -> bool:
        """Whether plugin errors are fatal (``HFOPT_STRICT_PLUGINS``)."""
        return _env_flag(self._environ, "HFOPT_STRICT_PLUGINS")

    def load_entrypoints(self) -> None:
        """Load every ``"hfopt"`` entry point once, honouring the ``HFOPT_*`` variables."""
        with self._lock:
            if self._entrypoints_loaded:
                return
            self._entrypoints_loaded = True
            if _env_flag(self._environ, "HFOPT_DISABLE_PLUGIN_AUTOLOAD"):
                return
            allow = _env_list(self._environ, "HFOPT_LOAD_PLUGINS")
            deny = _env_list(self._environ, "HFOPT_DISABLE_PLUGINS") or set()
            for ep in entrypoints.entry_points(ENTRY_POINT_GROUP):
                dist_name, version = ep.distribution, ep.version
                if ep.name in self._plugins or self._pm.has_plugin(ep.name):
                    continue
                plugin = _Plugin(ep.name, dist_name, version)
                self._plugins[ep.name] = plugin
                keys = {normalize(ep.name)} | ({normalize(dist_name)} if dist_name else set())
                if allow is not None and not keys & allow:
                    plugin.status, plugin.reason = "disabled", "not listed in HFOPT_LOAD_PLUGINS"
                    continue
                if keys & deny:
                    plugin.status, plugin.reason = "disabled", "listed in HFOPT_DISABLE_PLUGINS"
                    continue
                try:
                    module = ep.load()
                    self._register_checked(module, ep.name)
                except Exception as exc:  # a broken plugin must not take the others down
                    self._mark_broken(plugin, f"failed to load entry point {ep.value!r}: {type(exc).__name__}: {exc}")
            self._registry = None

    def register(self, plugin, name: str | None = None, distribution: str | None = None,
                 version: str | None = None) -> str:
        """Register an in-process plugin (a module or object with hookimpls).

        Args:
            plugin: the object holding ``@hookimpl`` functions.
            name: its plugin name. Defaults to pluggy's canonical name for the object.
            distribution: distribution to credit in messages. Defaults to ``None``.
            version: that distribution's version. Defaults to ``None``.

        Returns the plugin name. Raises ``ValueError`` if the name is already registered.
        """
        with self._lock:
            name = name or self._pm.get_canonical_name(plugin)
            if name in self._plugins:
                raise ValueError(f"a plugin named {name!r} is already registered")
            self._register_checked(plugin, name)
            self._plugins[name] = _Plugin(name, distribution, version)
            self._registry = None
            return name

    def _register_checked(self, plugin, name: str) -> None:
        self._pm.unknown_hooks.clear()
        self._pm.register(plugin, name=name)
        if self._pm.unknown_hooks:
            unknown = ", ".join(self._pm.unknown_hooks)
            self._pm.unregister(name=name)
            raise ValueError(f"unknown hook(s) {unknown}; hfopt hooks are {', '.join(hookspecs.HOOKS)}")

    def unregister(self, name: str) -> None:
        """Remove the plugin registered under ``name``."""
        with self._lock:
            if self._pm.has_plugin(name):
                self._pm.unregister(name=name)
            self._plugins.pop(name, None)
            self._registry = None

    def _mark_broken(self, plugin: _Plugin, reason: str) -> None:
        plugin.status, plugin.reason, plugin.provides = "broken", reason, []
        if self._pm.has_plugin(plugin.name):
            self._pm.unregister(name=plugin.name)
        message = f"hfopt plugin {plugin.label} is broken and was skipped: {reason}"
        if self.strict:
            raise PluginLoadError(message)
        warnings.warn(message, HfoptPluginWarning, stacklevel=4)

    # -- the registry ----------------------------------------------------------------------
    def _build(self) -> dict[str, dict[str, list[ComponentSpec]]]:
        self.load_entrypoints()
        with self._lock:
            if self._registry is not None:
                return self._registry
            collected: dict[str, list[ComponentSpec]] = defaultdict(list)
            for hook_name, spec_type in hookspecs.HOOKS.items():
                for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                    plugin = self._plugins.get(impl.plugin_name) or _Plugin(impl.plugin_name)
                    if plugin.status != "ok":
                        continue
                    try:
                        specs = list(impl.function() or ())
                        for spec in specs:
                            if not isinstance(spec, spec_type):
                                raise TypeError(f"{hook_name} must return {spec_type.__name__} objects, got {spec!r}")
                    except Exception as exc:
                        self._mark_broken(plugin, f"hook {hook_name} raised {type(exc).__name__}: {exc}")
                        collected.pop(plugin.name, None)
                        continue
                    collected[plugin.name].extend(s.with_source(plugin.label) for s in specs)
            registry: dict[str, dict[str, list[ComponentSpec]]] = {kind: defaultdict(list) for kind in SPEC_TYPES}
            exports: dict[str, list[tuple[str, ComponentSpec]]] = defaultdict(list)
            for plugin_name, specs in collected.items():
                plugin = self._plugins.setdefault(plugin_name, _Plugin(plugin_name))
                if plugin.status != "ok":
                    continue
                plugin.provides = sorted(
                    f"{s.kind}:{s.name}" + (f" (alias {', '.join(s.aliases)})" if s.aliases else "") for s in specs)
                for spec in specs:
                    for n in spec.names:
                        registry[spec.kind][n].append(spec)
                    for export, target in spec.exports.items():
                        if all(t != target for t, _ in exports[export]):
                            exports[export].append((target, spec))
            self._registry, self._exports = registry, exports
            return registry

    def plugins(self) -> list[PluginInfo]:
        """Every known plugin (ok, broken or disabled), sorted by name."""
        self._build()
        return [self._plugins[n].info() for n in sorted(self._plugins)]

    def specs(self, kind: str) -> list[ComponentSpec]:
        """The specs of one kind, one per (name, source), sorted by name."""
        seen, out = set(), []
        for specs in self._build()[kind].values():
            for spec in specs:
                if id(spec) not in seen:
                    seen.add(id(spec))
                    out.append(spec)
        return sorted(out, key=lambda s: (s.name, s.source or ""))

    def names(self, kind: str) -> list[str]:
        """Sorted names (aliases included) registered for ``kind``."""
        return sorted(self._build()[kind])

    def lookup(self, kind: str, name: str, framework: str | None = None) -> ComponentSpec:
        """The single spec registered for ``kind`` under ``name`` that supports ``framework``.

        Raises :class:`UnknownNameError` (a ``ValueError``) when nothing provides the name,
        :class:`FrameworkError` when nothing provides it for ``framework``, and
        :class:`PluginConflictError` when two distributions provide it for the same framework.
        """
        registry = self._build()[kind]
        candidates = registry.get(name, [])
        if not candidates:
            from ._catalog import distribution_for

            installed = sorted(registry)
            close = difflib.get_close_matches(name, installed, n=1, cutoff=0.6)
            raise UnknownNameError(kind, name, installed, close[0] if close else None,
                                   distribution_for(kind, name))
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
            sources = " and ".join(sorted(s.source or "?" for s in candidates))
            raise PluginConflictError(
                f"{kind} {name!r} is provided by more than one distribution: {sources}. "
                "Uninstall one, or disable one with HFOPT_DISABLE_PLUGINS.")
        return candidates[0]

    def export_target(self, export: str) -> str:
        """Import string of the facade name ``export``; ``KeyError`` when no plugin exports it."""
        self._build()
        targets = self._exports.get(export)
        if not targets:
            raise KeyError(export)
        if len(targets) > 1:
            sources = " and ".join(sorted(spec.source or "?" for _, spec in targets))
            raise PluginConflictError(f"{export!r} is exported by more than one distribution: {sources}")
        return targets[0][0]

    def exports(self) -> list[str]:
        """Every facade name the installed plugins export, sorted."""
        self._build()
        return sorted(self._exports)


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
