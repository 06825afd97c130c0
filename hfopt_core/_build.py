"""Building a schedule by name through the registry: the one place ``get_scheduler``'s rules live.

:func:`schedule_arguments` turns ``get_scheduler``'s arguments into the factory's keyword
arguments from the schedule's declaration (:mod:`hfopt_core._declaration`); :func:`build_named`
is ``get_scheduler`` for a name. :mod:`hfopt_core.api` and :mod:`hfopt_core.compose` both use it.
"""
from __future__ import annotations

import warnings
from collections.abc import Mapping

from ._lazy import missing_framework
from ._registry import split_source
from .errors import FrameworkError
from .manager import get_manager, resolve
from .scheduler_type import SchedulerType
from .specs import resolve_step_counts

_SCHEDULER_TYPES = {m.value: m for m in SchedulerType}
#: what a Keras user reaches for instead of a metric-driven (torch-only) schedule.
_KERAS_METRIC_ALTERNATIVE = "the keras.callbacks.ReduceLROnPlateau callback in model.fit"


def factory_of(spec):
    """Resolve ``spec.factory``; a missing framework becomes an ImportError saying what to install."""
    try:
        return resolve(spec.factory)
    except ModuleNotFoundError as exc:
        framework = missing_framework(exc)
        if framework is None:
            raise
        missing, extra = framework
        distribution = split_source(spec.source)[0] or "the plugin"
        raise ImportError(f"{spec.kind} {spec.name!r} ({spec.source}) needs {missing}, which is not installed: "
                          f"pip install '{distribution}[{extra}]'", name=missing) from exc


def _specific_kwargs(label, scheduler_specific_kwargs, declared) -> dict:
    """``scheduler_specific_kwargs`` as a dict, checked: a mapping with str keys the schedule accepts."""
    if scheduler_specific_kwargs is None:
        return {}
    if not isinstance(scheduler_specific_kwargs, Mapping):
        raise TypeError(f"scheduler_specific_kwargs must be a mapping (dict) of argument names to values, got "
                        f"{type(scheduler_specific_kwargs).__name__}: {scheduler_specific_kwargs!r}")
    kwargs = dict(scheduler_specific_kwargs)
    bad = [k for k in kwargs if not isinstance(k, str)]
    if bad:
        raise TypeError(f"scheduler_specific_kwargs keys must be argument names (str), got {bad!r}")
    clash = sorted(k for k in kwargs if k in declared.takes)
    if clash:
        raise TypeError(f"scheduler_specific_kwargs for {label} repeats {', '.join(map(repr, clash))}: pass "
                        f"{' and '.join(clash)} as get_scheduler's own argument")
    accepted = declared.accepted
    unknown = sorted(k for k in kwargs if accepted is not None and k not in accepted)
    if unknown:
        raise TypeError(f"scheduler_specific_kwargs for {label} has unknown key(s) {', '.join(map(repr, unknown))}; "
                        f"it accepts: {', '.join(accepted) or 'nothing'}")
    return kwargs


def _label(spec) -> str:
    member = _SCHEDULER_TYPES.get(spec.name)
    return str(member) if member is not None else spec.name


def schedule_arguments(spec, factory, num_warmup_steps=None, num_training_steps=None,
                       scheduler_specific_kwargs=None, *, stacklevel=3) -> dict:
    """The keyword arguments ``get_scheduler`` calls ``factory(optimizer, **arguments)`` with.

    Derived from the schedule's declaration (:func:`hfopt_core._declaration.declaration`): the step
    counts it takes, checked against those it requires (transformers' message), then the checked
    ``scheduler_specific_kwargs`` (ignored with a warning when the schedule takes none).
    """
    from ._declaration import declaration

    declared = declaration(spec, factory)
    label = _label(spec)
    if isinstance(num_warmup_steps, str):
        num_warmup_steps = resolve_step_counts({"num_warmup_steps": num_warmup_steps},
                                               num_training_steps)["num_warmup_steps"]
    if isinstance(scheduler_specific_kwargs, Mapping) and any(
            isinstance(v, str) for v in scheduler_specific_kwargs.values()):
        scheduler_specific_kwargs = resolve_step_counts(scheduler_specific_kwargs, num_training_steps)
    common = {"num_warmup_steps": num_warmup_steps, "num_training_steps": num_training_steps}
    if not declared.accepts_kwargs:
        if scheduler_specific_kwargs is not None and not isinstance(scheduler_specific_kwargs, Mapping):
            raise TypeError(f"scheduler_specific_kwargs must be a mapping (dict) of argument names to values, got "
                            f"{type(scheduler_specific_kwargs).__name__}: {scheduler_specific_kwargs!r}")
        if scheduler_specific_kwargs:
            warnings.warn(f"{label} takes no scheduler_specific_kwargs; ignoring {sorted(scheduler_specific_kwargs)}",
                          UserWarning, stacklevel=stacklevel)
    for arg in declared.requires:
        if common[arg] is None:
            raise ValueError(f"{label} requires `{arg}`, please provide that argument.")
    kwargs = _specific_kwargs(label, scheduler_specific_kwargs, declared) if declared.accepts_kwargs else {}
    return {**{a: common[a] for a in declared.takes}, **kwargs}


def lookup_schedule(key, framework):
    try:
        return get_manager().lookup("schedule", key, framework)
    except FrameworkError as exc:
        if framework == "keras":
            from .specs import is_metric_driven

            if is_metric_driven(get_manager().lookup("schedule", key)):  # declared torch-only, no step form
                raise FrameworkError(f"{exc}; it follows a metric: on Keras use {_KERAS_METRIC_ALTERNATIVE}") from None
        raise


def build_named(key: str, optimizer, num_warmup_steps=None, num_training_steps=None, scheduler_specific_kwargs=None):
    """``get_scheduler`` for a registry name (or alias): look it up for ``optimizer``'s framework and call its factory."""
    from ._schedules import framework_of

    spec = lookup_schedule(key, framework_of(optimizer))
    factory = factory_of(spec)
    arguments = schedule_arguments(spec, factory, num_warmup_steps, num_training_steps, scheduler_specific_kwargs,
                                   stacklevel=4)
    return factory(optimizer, **arguments)
