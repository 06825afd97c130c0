"""Fault isolation: what pluggy registers for a plugin is a guarded stand-in, never the plugin itself.

For each hook implementation of a plugin (found with pluggy's own ``parse_hookimpl_opts``), the
stand-in holds a function with the same signature and the same ``@hookimpl`` options that calls
the original and checks what it returns. Whatever the original raises (even ``SystemExit``;
``KeyboardInterrupt`` propagates) or returns that is not a list of specs is recorded against the
plugin through ``on_fault`` and the call returns ``None``, so the other plugins' results are
intact. pluggy then calls, orders and wraps the stand-ins exactly as it would the originals: only
pluggy's public API is used (``register``, ``HookimplMarker``, ``parse_hookimpl_opts``).
"""
from __future__ import annotations

import collections.abc
import functools
import inspect
import itertools
import types

from ._discovery import describe_exception
from .errors import _shortened
from .hookspecs import HOOKS, hookimpl

#: the most specs one hook call of one plugin may give: more is a fault (it also cuts an endless generator)
MAX_SPECS = 10_000


def _shown(value) -> str:
    """``repr(value)`` cut to 200 characters (a plugin's junk echoed in a bounded message)."""
    return _shortened(repr(value), 200)


class GuardedPlugin(types.ModuleType):
    """The object registered with pluggy in place of ``plugin`` (see :func:`guarded`).

    A module object, so that pluggy's scan of its attributes sees only the guarded hooks.

    Attributes:
        plugin: the plugin it stands in for.
        hooks: the names of the hooks it implements.
    """

    def __init__(self, plugin, name: str):
        super().__init__(f"hfopt plugin {name!r}")
        self.plugin, self.hooks = plugin, []

    def __repr__(self) -> str:
        return f"<{self.__name__}: {self.plugin!r}>"


def guarded(plugin, name: str, label: str, parse_opts, on_fault) -> GuardedPlugin:
    """A stand-in for ``plugin`` whose ``hfopt_*`` implementations record faults instead of raising.

    Args:
        plugin: the module or object holding ``@hookimpl`` functions.
        name: its plugin name (faults are recorded under it).
        label: the source its specs are tagged with (``"dist==version"`` or ``name``).
        parse_opts: ``(plugin, attribute) -> options or None``: the pluggy manager's
            ``parse_hookimpl_opts``.
        on_fault: ``(name, reason) -> None``, called when an implementation faults.

    A wrapper implementation that is not a generator function is copied unguarded, so that
    pluggy's validation rejects it as it would the original.
    """
    standin = GuardedPlugin(plugin, name)
    for attribute in dir(plugin):
        if not attribute.startswith("hfopt_"):  # what parse_opts would skip anyway, without the call
            continue
        opts = parse_opts(plugin, attribute)
        if opts is None:
            continue
        function = getattr(plugin, attribute)
        is_wrapper = bool(opts.get("wrapper") or opts.get("hookwrapper"))
        standin.hooks.append(attribute)
        if is_wrapper and not inspect.isgeneratorfunction(function):
            setattr(standin, attribute, function)
            continue
        guard = _guard(function, attribute, is_wrapper, bool(opts.get("hookwrapper")), name, label, on_fault)
        setattr(standin, attribute, hookimpl(**opts)(guard))
    return standin


def _guard(function, hook_name: str, is_wrapper: bool, old_style: bool, name: str, label: str, on_fault):
    """``function`` wrapped so that a fault is recorded against plugin ``name``, not raised."""
    spec_type = HOOKS.get(hook_name)

    def fault(exc: BaseException, what: str) -> None:
        on_fault(name, f"hook {hook_name} {what} {describe_exception(exc)}")

    def specs_of(result, shape: str, retag: bool):
        if result is not None and not isinstance(result, collections.abc.Iterable):
            raise TypeError(f"{hook_name} must {shape} {spec_type.__name__} objects, got {_shown(result)}")
        specs = list(itertools.islice(result or (), MAX_SPECS + 1))  # an endless generator is cut, not followed
        if len(specs) > MAX_SPECS:
            raise ValueError(f"{hook_name} gave more than {MAX_SPECS} specs (an endless generator?)")
        for spec in specs:
            if not isinstance(spec, spec_type):
                raise TypeError(f"{hook_name} must {shape} {spec_type.__name__} objects, got {_shown(spec)}")
        # the manager, not the plugin, says where a spec comes from; a wrapper passes others' on
        return [s.with_source(label) if retag or not s.source else s for s in specs]

    if is_wrapper:
        @functools.wraps(function)
        def guarded_wrapper(*args):
            try:
                result = yield from function(*args)
                if old_style:
                    return result
                return [specs_of(r, "return lists of", retag=False) for r in result]
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - this plugin's fault only
                fault(exc, "(wrapper) raised")
                return None

        return guarded_wrapper

    @functools.wraps(function)
    def guarded_call(*args):
        try:
            return specs_of(function(*args), "return", retag=True)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - this plugin's fault only
            fault(exc, "raised")
            return None

    return guarded_call
