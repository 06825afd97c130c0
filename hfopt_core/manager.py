"""Plugin discovery and the component registry.

One :class:`PluginManager` per process (:func:`get_manager`) finds the ``"hfopt"`` entry points
of every installed distribution through :mod:`importlib.metadata`, imports each plugin module,
registers it with pluggy under its distribution's name, calls the hooks through pluggy and
answers lookups by (kind, name, framework).

A plugin is identified by the distribution that ships it: two distributions whose entry points
share a name are two plugins, and neither can shadow the other. Whatever goes wrong inside one
plugin (its import raises, even ``SystemExit``; a hook raises or returns something that is not
a spec; it implements a hook that does not exist) or in one distribution's metadata marks only
that plugin broken, with the reason; the others keep working in this call and every later one.
Loading is all-or-nothing: the registry a lookup sees is only ever replaced by a complete one.

Environment variables (read when a manager first loads):

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
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import pkgutil
import re
import sys
import threading
import warnings
from collections import defaultdict
from dataclasses import dataclass

import pluggy

from . import hookspecs
from ._catalog import distribution_for
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
_VARIABLES = ("HFOPT_LOAD_PLUGINS", "HFOPT_DISABLE_PLUGINS")


def normalize(name: str) -> str:
    """PEP 503 normalized form of a distribution or plugin name (``Foo_Bar`` -> ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@functools.lru_cache(maxsize=None)
def resolve(import_string: str):
    """The object an import string names (``"package.module:attr.sub"``), cached per process.

    This is :func:`pkgutil.resolve_name`; failures are not cached.
    """
    return pkgutil.resolve_name(import_string)


def _metadata():
    if sys.version_info >= (3, 10):
        from importlib import metadata
    else:  # pragma: no cover - the backport has the 3.10+ API
        import importlib_metadata as metadata
    return metadata


def _env_flag(environ, key: str) -> bool:
    return environ.get(key, "").strip().lower() in _TRUE


def _env_list(environ, key: str) -> list[str] | None:
    value = environ.get(key)
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# -- discovery -----------------------------------------------------------------------------------
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


def installed_entry_points(group: str = ENTRY_POINT_GROUP) -> list[PluginInfo]:
    """One :class:`PluginInfo` per entry point of ``group`` of each installed distribution.

    In ``sys.path`` order; the first distribution of a name on ``sys.path`` wins, as in
    :mod:`importlib.metadata`. The plugin is named after its distribution (``"dist:entry-point"``
    when the distribution declares several entry points in ``group``) and has status ``"ok"``
    (not loaded yet). A distribution whose metadata cannot be read is returned ``"broken"`` with
    the reason when it declares (or may declare) ``group``, and skipped otherwise: an unrelated
    broken package is not ours to report.
    """
    metadata = _metadata()
    found: list[PluginInfo] = []
    seen: set[str] = set()
    for dist in metadata.distributions():
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
            found.append(PluginInfo(key, key, None, "broken", f"unreadable metadata: {_describe(exc)}"))
            continue
        for ep in eps:
            plugin = name if len(eps) == 1 else f"{name}:{ep.name}"
            found.append(PluginInfo(plugin, name, version, "ok", entry_point=ep.value))
    return found


# -- the manager ---------------------------------------------------------------------------------
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
class Problem:
    """One thing ``hfopt doctor`` reports: what is wrong and how to fix it.

    Args:
        category: ``"broken"``, ``"conflict"``, ``"unknown-name"``, ``"preference"`` or ``"disabled"``.
        subject: the plugin, name or variable concerned.
        message: what is wrong.
        fix: what to do about it.
        needs_fixing: whether it makes ``hfopt doctor`` exit non-zero (disabled plugins do not).
    """

    category: str
    subject: str
    message: str
    fix: str
    needs_fixing: bool = True


@dataclass(frozen=True)
class _Registry:
    """One complete, immutable build: what lookups read."""

    by_name: dict  # kind -> name -> [spec, ...]
    exports: dict  # facade name -> [(import string, spec), ...]
    provides: dict  # plugin name -> ("kind:name", ...)


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
        self._loaded = False
        self._registry: _Registry | None = None
        self._faults: dict[str, str] = {}
        self._warned: set[str] = set()
        self._notes: list[Problem] = []  # unknown names in the environment, bad preferences
        self._preferences: dict[tuple[str, str], str] = {}  # set in code: win over HFOPT_PREFER
        self._env_preferences: dict[tuple[str, str], str] = {}
        self._lock = threading.RLock()

    # -- configuration -------------------------------------------------------------------------
    @property
    def strict(self) -> bool:
        """Whether broken plugins make every lookup fail (``HFOPT_STRICT_PLUGINS``)."""
        return _env_flag(self._environ, "HFOPT_STRICT_PLUGINS")

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

    def _read_preferences(self) -> dict[tuple[str, str], str]:
        preferences = {}
        for item in _env_list(self._environ, "HFOPT_PREFER") or ():
            match = re.fullmatch(r"\s*(\w+)\s*:\s*([\w.-]+)\s*=\s*([\w.-]+)\s*", item)
            if not match or match.group(1) not in SPEC_TYPES:
                self._note(Problem("preference", "HFOPT_PREFER", f"HFOPT_PREFER entry {item!r} is not kind:name=distribution "
                                   f"with kind one of {', '.join(sorted(SPEC_TYPES))}",
                                   "write it like HFOPT_PREFER=schedule:cosine=hfopt-schedule-cosine"))
                continue
            preferences[(match.group(1), match.group(2))] = normalize(match.group(3))
        return preferences

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
        known = {normalize(i.name) for i in installed} | {normalize(i.distribution) for i in installed}
        autoload = not _env_flag(self._environ, "HFOPT_DISABLE_PLUGIN_AUTOLOAD")
        lists = {var: _env_list(self._environ, var) for var in _VARIABLES}
        for var, names in lists.items():
            for unknown in sorted({n for n in names or () if normalize(n) not in known}):
                listed = ", ".join(sorted({i.distribution for i in installed})) or "none"
                self._note(Problem("unknown-name", var, f"{var} names {unknown!r}, which is not an installed hfopt plugin",
                                   f"installed plugins: {listed}"))
        allow = None if lists["HFOPT_LOAD_PLUGINS"] is None else {normalize(n) for n in lists["HFOPT_LOAD_PLUGINS"]}
        deny = {normalize(n) for n in lists["HFOPT_DISABLE_PLUGINS"] or ()}
        self._env_preferences = self._read_preferences()
        for info in installed:
            keys = {normalize(info.name), normalize(info.distribution)}
            if info.status == "broken":
                self._plugins[info.name] = self._broken(info, info.reason)
            elif not autoload:
                self._plugins[info.name] = dataclasses.replace(
                    info, status="disabled", reason="HFOPT_DISABLE_PLUGIN_AUTOLOAD is set")
            elif allow is not None and not keys & allow:
                self._plugins[info.name] = dataclasses.replace(
                    info, status="disabled", reason="not listed in HFOPT_LOAD_PLUGINS")
            elif keys & deny:
                self._plugins[info.name] = dataclasses.replace(
                    info, status="disabled", reason="listed in HFOPT_DISABLE_PLUGINS")
            else:
                self._load_one(info)

    def _load_one(self, info: PluginInfo) -> None:
        """Import one installed plugin and register it; any failure marks only it broken."""
        try:
            module = _metadata().EntryPoint(info.name, info.entry_point, ENTRY_POINT_GROUP).load()
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

    def _add(self, plugin, info: PluginInfo) -> None:
        """Register ``plugin`` with pluggy: validated (unknown hook names too), or not at all."""
        if self._pm.is_registered(plugin):
            raise ValueError(f"{getattr(plugin, '__name__', plugin)!r} is already registered as plugin "
                             f"{self._pm.get_name(plugin)!r}")
        self._pm.register(plugin, name=info.name)
        try:
            self._pm.check_pending()  # unknown hook names: pluggy's own validation
        except BaseException:
            self._pm.unregister(name=info.name)
            raise

    def _guard_all(self) -> None:
        """Wrap every implementation not yet guarded (see :meth:`_guard`); one pass per build."""
        for hook_name in hookspecs.HOOKS:
            for impl in getattr(self._pm.hook, hook_name).get_hookimpls():
                if not getattr(impl.function, "_hfopt_guarded", False):
                    impl.function = self._guard(impl, hook_name)

    def _guard(self, impl, hook_name: str):
        """``impl.function`` wrapped so that a fault is recorded against its plugin, not raised."""
        function, plugin, spec_type = impl.function, impl.plugin_name, hookspecs.HOOKS.get(hook_name)
        label = self._plugins[plugin].label

        def fault(exc: BaseException, what: str) -> None:
            self._faults.setdefault(plugin, f"hook {hook_name} {what} {_describe(exc)}")

        def specs_of(result, shape: str, retag: bool):
            specs = list(result or ())
            for spec in specs:
                if not isinstance(spec, spec_type):
                    raise TypeError(f"{hook_name} must {shape} {spec_type.__name__} objects, got {spec!r}")
            # the manager, not the plugin, says where a spec comes from; a wrapper passes others' on
            return [s.with_source(label) if retag or not s.source else s for s in specs]

        if impl.wrapper or impl.hookwrapper:
            @functools.wraps(function)
            def guarded_wrapper(*args):
                try:
                    result = yield from function(*args)
                    if impl.hookwrapper:
                        return result
                    return [specs_of(r, "return lists of", retag=False) for r in result]
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # noqa: BLE001
                    fault(exc, "(wrapper) raised")
                    return None

            guarded_wrapper._hfopt_guarded = True
            return guarded_wrapper

        @functools.wraps(function)
        def guarded(*args):
            try:
                return specs_of(function(*args), "return", retag=True)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001
                fault(exc, "raised")
                return None

        guarded._hfopt_guarded = True
        return guarded

    def _broken(self, info: PluginInfo, reason: str) -> PluginInfo:
        broken = dataclasses.replace(info, status="broken", reason=reason, provides=())
        if not self.strict:
            self._warn(f"broken:{info.name}", f"hfopt plugin {broken.label} is broken and was skipped: {reason}")
        return broken

    def _forget(self, name: str) -> None:
        if self._pm.has_plugin(name):
            self._pm.unregister(name=name)
        self._plugins.pop(name, None)

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
    def _build(self) -> _Registry:
        registry = self._registry
        if registry is not None:
            return registry
        self.load_entrypoints()
        with self._lock:
            if self._registry is None:
                self._registry = self._call_hooks()
            return self._registry

    def _call_hooks(self) -> _Registry:
        """Call every hook through pluggy; a plugin that faults is dropped and the call redone."""
        self._guard_all()
        while True:
            self._faults = {}
            results = {hook: getattr(self._pm.hook, hook)() for hook in hookspecs.HOOKS}
            faults, self._faults = self._faults, {}
            if not faults:
                break
            for name, reason in faults.items():
                self._pm.unregister(name=name)
                self._plugins[name] = self._broken(self._plugins[name], reason)
        by_name = {kind: defaultdict(list) for kind in SPEC_TYPES}
        exports: dict[str, list] = defaultdict(list)
        by_source: dict[str, list[str]] = defaultdict(list)
        for hook, result in results.items():
            for spec in (s for specs in result or () for s in specs):
                for n in spec.names:
                    by_name[spec.kind][n].append(spec)
                for export, target in spec.exports.items():
                    if all(t != target for t, _ in exports[export]):
                        exports[export].append((target, spec))
                by_source[spec.source].append(
                    f"{spec.kind}:{spec.name}" + (f" (alias {', '.join(spec.aliases)})" if spec.aliases else ""))
        provides = {}
        for name, info in self._plugins.items():
            if info.status == "ok":
                provides[name] = tuple(sorted(set(by_source.get(info.label, ()))))
                self._plugins[name] = dataclasses.replace(info, provides=provides[name])
        return _Registry({k: dict(v) for k, v in by_name.items()}, dict(exports), provides)

    def _checked(self) -> _Registry:
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
        out = []
        for kind, names in self._build().by_name.items():
            for name, specs in sorted(names.items()):
                if len(specs) < 2 or not _overlapping(specs):
                    continue
                chosen = self._preferred(kind, name, specs)
                out.append(Conflict(kind, name, tuple(sorted(s.source or "?" for s in specs)),
                                    chosen.source if chosen is not None else None))
        return out

    def _all_preferences(self) -> dict[tuple[str, str], str]:
        return {**self._env_preferences, **self._preferences}

    def _preferred(self, kind: str, name: str, specs: list[ComponentSpec]) -> ComponentSpec | None:
        wanted = self._all_preferences().get((kind, name))
        if wanted is None:
            return None
        for spec in specs:
            if normalize((spec.source or "").split("==")[0]) == wanted:
                return spec
        return None

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
            chosen = self._preferred(kind, name, candidates)
            if chosen is not None:
                return chosen
            sources = sorted(s.source or "?" for s in candidates)
            wanted = self._all_preferences().get((kind, name))
            why = (f" HFOPT_PREFER / prefer() names {wanted!r}, which is not one of them." if wanted else "")
            first = sources[0].split("==")[0]
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
        """Everything ``hfopt doctor`` reports: broken and disabled plugins, conflicts, bad variables."""
        self._build()
        problems = list(self._notes)
        for info in self.plugins():
            subject = info.distribution or info.name
            if info.status == "broken":
                problems.append(Problem("broken", info.label, f"{info.label} is broken: {info.reason}",
                                        f"upgrade or reinstall it (pip install -U {subject}), uninstall it, or skip "
                                        f"it with HFOPT_DISABLE_PLUGINS={subject}"))
            elif info.status == "disabled":
                problems.append(Problem("disabled", info.label, f"{info.label} is disabled: {info.reason}",
                                        f"to use it, {_enable_fix(info)}", needs_fixing=False))
        for conflict in self.conflicts():
            what = f"{conflict.kind} {conflict.name!r} is provided by {' and '.join(conflict.sources)}"
            first = conflict.sources[0].split("==")[0]
            if conflict.preferred is None:
                problems.append(Problem("conflict", f"{conflict.kind}:{conflict.name}", what,
                                        f"pick one with HFOPT_PREFER={conflict.kind}:{conflict.name}={first}, "
                                        "or uninstall or disable the other"))
            else:
                problems.append(Problem("conflict", f"{conflict.kind}:{conflict.name}",
                                        f"{what}; {conflict.preferred} is preferred", "nothing to do",
                                        needs_fixing=False))
        for (kind, name), wanted in sorted(self._all_preferences().items()):
            specs = self._build().by_name.get(kind, {}).get(name, [])
            if not any(normalize((s.source or "").split("==")[0]) == wanted for s in specs):
                providers = ", ".join(sorted(s.source or "?" for s in specs)) or "no installed plugin"
                problems.append(Problem("preference", f"{kind}:{name}",
                                        f"the preference {kind}:{name}={wanted} names a distribution that does not "
                                        f"provide it (provided by: {providers})",
                                        "fix or remove it in HFOPT_PREFER"))
        return problems


def _overlapping(specs: list[ComponentSpec]) -> bool:
    """Whether two of ``specs`` share a framework (only then is a name contested)."""
    seen: set[str] = set()
    for spec in specs:
        if seen & set(spec.frameworks):
            return True
        seen |= set(spec.frameworks)
    return False


def _enable_fix(info: PluginInfo) -> str:
    """How to enable a disabled plugin, from the variable that disabled it."""
    subject = info.distribution or info.name
    if "HFOPT_DISABLE_PLUGIN_AUTOLOAD" in info.reason:
        return "unset HFOPT_DISABLE_PLUGIN_AUTOLOAD"
    if "HFOPT_LOAD_PLUGINS" in info.reason:
        return f"add {subject} to HFOPT_LOAD_PLUGINS"
    return f"remove {subject} from HFOPT_DISABLE_PLUGINS"


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
