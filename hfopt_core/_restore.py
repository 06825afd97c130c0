"""Schedules restored from data (a saved Keras config, a checkpoint) through the registry only.

A saved schedule is the mapping spec ``{"name": ..., **arguments}`` (the form
:func:`hfopt_core.specs.normalize_spec` checks): a registry name and the keyword arguments of that
schedule's factory, as plain values. :func:`step_function_from_spec` is the one way back from it to
a step function: the name is looked up among the installed plugins and their factory builds the
step function, validating every argument exactly as on construction. Nothing named in the data is
imported: only the registered plugins' own factories are called.

This module sits below the framework adapters (it imports neither :mod:`hfopt_core._keras` nor
:mod:`hfopt_core._schedules`), so the adapters can restore through it without an import cycle.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import MissingPluginError, UnknownNameError
from ._registry import split_source
from .manager import get_manager, resolve
from .specs import _bounded, normalize_spec

__all__ = ["legacy_spec", "spec_of", "step_function_from_spec"]

_DISTRIBUTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_FORMULA = re.compile(r"^([A-Za-z_][\w.]*):[A-Za-z_][\w.]*$")
_PLAIN = (int, float, str, bool, type(None))
#: arguments a saved spec may not set: they belong to the framework object, not to the schedule.
_NOT_ARGUMENTS = ("optimizer", "last_epoch")


def _check_plain(where: str, value) -> None:
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(where, item)
    elif not isinstance(value, _PLAIN):
        raise TypeError(f"{where} must be a plain value (number, str, bool, None), got "
                        f"{type(value).__name__}: {value!r}")


def _distribution(value) -> str | None:
    return value if isinstance(value, str) and _DISTRIBUTION.match(value) else None


def _source_distribution(entry) -> str | None:
    return split_source(entry.source)[0] or None


def step_function_from_spec(spec, *, framework: str = "keras", distribution: str | None = None):
    """The step function (``step -> multiplier``) a mapping spec names, built through the registry only.

    Args:
        spec: ``{"name": registry name, **arguments}`` (or a bare name); ``arguments`` are the
            keyword arguments of the schedule's factory, as plain values (numbers, strings,
            bools, ``None``, lists of those). Percentage step counts (``"10%"``) are resolved as
            :func:`~hfopt_core.specs.normalize_spec` does. A list of phases (a composite) is
            restored phase by phase the same way and joined (:class:`hfopt_core._joined.Joined`).
        framework: the framework the step function is for; the schedule must support it and
            ``"python"`` (its factory is called with ``optimizer=None``). Keyword only.
            Defaults to ``"keras"``.
        distribution: the distribution the spec says provided it (informative: named in the
            error when no installed plugin provides the name). Keyword only. Defaults to ``None``.

    Returns what the registered factory returns for ``optimizer=None`` (a
    :class:`~hfopt_core.plugin.StepFunction` for the first-party schedules): every argument is
    checked exactly as on construction (``ValueError`` for NaN, negative or out-of-range values,
    ``TypeError`` for wrong types or unknown arguments, each naming the argument).

    Raises :class:`~hfopt_core.errors.MissingPluginError` (an ``ImportError``) naming the
    distribution to install when no installed plugin provides the name, ``TypeError`` for a
    non-plain value or for ``optimizer``/``last_epoch``, and ``ValueError`` for a spec larger than a
    spec file may be (:data:`hfopt_core.specs.MAX_SPEC_VALUES` values nested
    :data:`~hfopt_core.specs.MAX_SPEC_DEPTH` deep).
    """
    # saved data is bounded like a spec file: at most MAX_SPEC_VALUES values nested MAX_SPEC_DEPTH deep
    # (200,000 phases took 30 s to restore; a 5,000-deep list was a RecursionError)
    _bounded(list(spec) if isinstance(spec, tuple) else spec, "a saved schedule spec")
    if isinstance(spec, (list, tuple)):  # a composite: each phase restored the same way, then joined
        from ._joined import Joined
        from .specs import phase_arguments

        phases, built, start = normalize_spec(spec), [], 0
        for phase in phases:
            built.append((start, step_function_from_spec(_phase_spec(phase), framework=framework,
                                                         distribution=distribution)))
            start += phase["steps"] or 0
        return Joined(built, spec=phases)
    data = normalize_spec(spec)
    name = data.pop("name")
    for key, value in data.items():
        _check_plain(f"schedule {name!r} argument {key}", value)
    reserved = sorted(k for k in data if k in _NOT_ARGUMENTS)
    if reserved:
        raise TypeError(f"schedule {name!r}: {', '.join(reserved)} cannot be set from saved data")
    manager = get_manager()
    try:
        entry = manager.lookup("schedule", name, "python")
    except UnknownNameError as exc:
        saved = _distribution(distribution)
        # the name comes from the file: echoed as the file's claim, never as our advice (a tampered file
        # could name a look-alike package)
        hint = (f"\nThe saved data says it was made with the distribution {saved!r} (read from the data, not "
                f"verified: check that it is the package you expect before installing it):\n    pip install {saved}"
                if saved else "")
        raise MissingPluginError(f"{exc}{hint}", name=name) from None
    if framework not in entry.frameworks:
        raise TypeError(f"schedule {name!r} ({entry.source}) does not support {framework} "
                        f"(it supports {', '.join(entry.frameworks)})")
    step_function = resolve(entry.factory)(None, **data)
    if not callable(getattr(step_function, "evaluate", None)):
        raise TypeError(f"schedule {name!r} ({entry.source}) gave {type(step_function).__name__}, "
                        "not a step function with evaluate(step, ops)")
    return step_function


def _phase_spec(phase) -> dict:
    """A canonical phase as the mapping spec of its schedule: its length is its ``num_training_steps``
    when the schedule's declaration takes it (as ``get_scheduler`` passes it)."""
    from ._declaration import declaration
    from .specs import phase_arguments

    data = phase_arguments(phase)
    try:
        entry = get_manager().lookup("schedule", data["name"], "python")
        takes = declaration(entry, resolve(entry.factory)).takes
    except Exception:  # noqa: BLE001 - step_function_from_spec reports an unknown or broken name itself
        return data
    return {k: v for k, v in data.items() if k in takes or k not in ("num_warmup_steps", "num_training_steps")}


def _candidates(package: str, framework: str):
    """Registered schedules for ``framework`` whose factory lives in top-level package ``package``."""
    for entry in sorted(get_manager().specs("schedule"), key=lambda e: e.name):
        if {"python", framework} <= set(entry.frameworks) and entry.factory.split(":")[0].split(".")[0] == package:
            yield entry


def spec_of(step_function, *, framework: str = "keras") -> tuple[dict, str | None] | None:
    """``(spec, distribution)`` that :func:`step_function_from_spec` turns back into ``step_function``, or ``None``.

    Args:
        step_function: a step function built by a registered schedule (a ``StepFunction``), or one
            that carries its canonical spec as ``.spec`` (a composite).
        framework: as for :func:`step_function_from_spec`. Keyword only. Defaults to ``"keras"``.

    The spec is ``{"name": registry name, **the formula's arguments}``: found among the registered
    schedules whose factory is in the formula's package, checked by rebuilding it. ``None`` when
    no registered schedule rebuilds it (an unregistered formula).
    """
    spec = getattr(step_function, "spec", None)
    if spec is not None:
        return spec, None
    formula = getattr(step_function, "formula", None)
    params = getattr(step_function, "params", None)
    if not isinstance(formula, str) or not isinstance(params, Mapping):
        return None
    for entry in _candidates(formula.split(":")[0].split(".")[0], framework):
        candidate = {"name": entry.name, **params}
        try:
            if step_function_from_spec(candidate, framework=framework) == step_function:
                return candidate, _source_distribution(entry)
        except (TypeError, ValueError, ImportError):
            continue
    return None


def legacy_spec(formula, params, *, framework: str = "keras") -> dict:
    """The mapping spec for a 0.1 config's ``formula`` import string and ``params``, through the registry.

    Args:
        formula: the ``"package.module:function"`` string a 0.1 config holds (never imported).
        params: the formula's arguments, a mapping of plain values.
        framework: as for :func:`step_function_from_spec`. Keyword only. Defaults to ``"keras"``.

    The string is only compared: among the registered schedules whose factory is in the string's
    top-level package, the one whose rebuilt step function has exactly this formula is used.
    Raises ``ValueError`` when no registered schedule provides that formula (nothing is imported
    or called then), ``TypeError`` for a malformed value.
    """
    if not isinstance(formula, str) or not _FORMULA.match(formula):
        raise TypeError(f"a 0.1 schedule config's formula must be a 'package.module:function' string, got {formula!r}")
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise TypeError(f"a 0.1 schedule config's params must be a mapping of argument names, got {params!r}")
    package = _FORMULA.match(formula)[1].split(".")[0]
    refused = None
    for entry in _candidates(package, framework):
        candidate = {"name": entry.name, **params}
        try:
            rebuilt = step_function_from_spec(candidate, framework=framework)
        except (TypeError, ValueError) as exc:
            refused = refused or exc
            continue
        if getattr(rebuilt, "formula", None) == formula:
            return candidate
    if refused is not None and type(refused) in (TypeError, ValueError):
        raise type(refused)(f"a 0.1 schedule config names the formula {formula!r}: {refused}") from refused
    raise ValueError(
        f"a 0.1 schedule config names the formula {formula!r}, which no installed schedule plugin provides "
        f"(nothing was imported). Install the plugin that provides it (by convention the distribution "
        f"{package.replace('_', '-')!r}), or rebuild the schedule with get_scheduler.")
