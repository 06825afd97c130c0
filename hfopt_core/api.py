"""The user-facing lookups: ``get_scheduler``, ``get_optimizer``, ``get_accumulator``, ``list_plugins``."""
from __future__ import annotations

import warnings
from collections.abc import Mapping

from ._layerwise import layerwise_optimizers, layerwise_scheduler
from ._lazy import missing_framework
from .errors import FrameworkError
from .manager import get_manager, resolve
from .scheduler_type import SchedulerType
from .specs import resolve_step_counts
from ._schedules import framework_of
from .types import PluginInfo

_SCHEDULER_TYPES = {m.value: m for m in SchedulerType}
#: torch-only, metric-driven schedules -> what a Keras user reaches for instead.
_KERAS_ALTERNATIVES = {
    "reduce_lr_on_plateau": "the keras.callbacks.ReduceLROnPlateau callback in model.fit",
    "greedy": "the keras.callbacks.ReduceLROnPlateau callback in model.fit (GreedyLR is PyTorch only)",
}


def _factory(spec):
    """Resolve ``spec.factory``; a missing framework becomes an ImportError saying what to install."""
    try:
        return resolve(spec.factory)
    except ModuleNotFoundError as exc:
        framework = missing_framework(exc)
        if framework is None:
            raise
        missing, extra = framework
        distribution = (spec.source or "").split("==")[0] or "the plugin"
        raise ImportError(f"{spec.kind} {spec.name!r} ({spec.source}) needs {missing}, which is not installed: "
                          f"pip install '{distribution}[{extra}]'", name=missing) from exc


def _name(name, what: str) -> str:
    if isinstance(name, SchedulerType):
        return name.value
    if not isinstance(name, str):
        raise TypeError(f"{what} name must be a str, got {type(name).__name__}: {name!r}")
    return name


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


def _lookup_schedule(key, framework):
    try:
        return get_manager().lookup("schedule", key, framework)
    except FrameworkError as exc:
        if framework == "keras" and key in _KERAS_ALTERNATIVES:
            raise FrameworkError(f"{exc}; on Keras use {_KERAS_ALTERNATIVES[key]}") from None
        raise


def _is_spec_form(name, scheduler_specific_kwargs, framework) -> bool:
    if framework is not None:
        if framework != "jax":
            raise ValueError(f"framework must be None (from the optimizer) or 'jax', got {framework!r}")
        return True
    if isinstance(name, (Mapping, list, tuple)):
        return True
    return isinstance(scheduler_specific_kwargs, Mapping) and "per_group" in scheduler_specific_kwargs


def get_scheduler(name, optimizer, num_warmup_steps=None, num_training_steps=None,
                  scheduler_specific_kwargs=None, *, framework=None):
    """Build any installed learning-rate schedule from its name or a spec (transformers' ``get_scheduler``).

    Args:
        name: a :class:`SchedulerType`, any registered schedule name (or alias), or a spec
            (see :mod:`hfopt_core.specs`): a mapping ``{"name": "cosine", "num_warmup_steps": 100,
            ...}`` or a list of phases, each with ``"steps"`` or ``"fraction"``; step counts may be
            ``"10%"`` strings (a share of ``num_training_steps``, rounded down).
        optimizer: a ``torch.optim.Optimizer``; ``None`` returns a plain, picklable
            ``step -> multiplier`` callable for schedules that support it. transformers'
            layer-wise dummy optimizer (anything with an ``optimizer_dict`` of per-parameter
            optimizers) gets one scheduler per parameter, stepped from gradient hooks, and a
            scheduler for the dummy that reports their learning rates.
        num_warmup_steps: warmup steps; required by every schedule but ``constant``,
            ``reduce_lr_on_plateau`` and ``greedy``. Defaults to ``None``.
        num_training_steps: total steps; required by the decaying schedules. Defaults to ``None``.
        scheduler_specific_kwargs: a mapping of extra keyword arguments for the schedule function
            (``num_cycles``, ``timescale``, ``min_lr_rate``, ...); ``per_group=True`` takes
            ``min_lr``/``lr_end`` relative to each parameter group's own initial lr. Defaults to ``None``.
        framework: ``"jax"`` (with ``optimizer=None``) returns a jit-able ``step -> multiplier`` on
            ``jax.numpy``; ``None`` picks the framework from ``optimizer``. Keyword only. Defaults to ``None``.

    A name builds exactly what transformers builds. A mapping or a list of phases on torch builds
    a ``LambdaLR`` whose ``state_dict`` records the spec and the horizon (a list ending in a
    metric-driven phase builds one scheduler stepped with ``step()`` then ``step(metric)``); see
    docs/schedules-as-data.md.

    Raises ``ValueError`` with transformers' message when a required step count is missing, an
    :class:`~hfopt_core.errors.UnknownNameError` (a ``ValueError``) for a name nothing provides,
    a :class:`~hfopt_core.errors.FrameworkError` for an optimizer the schedule cannot drive, and a
    ``TypeError`` when ``scheduler_specific_kwargs`` is not a mapping or has a key the schedule does
    not take (naming it and listing the accepted ones). Bad values are named by the schedule.
    """
    if layerwise_optimizers(optimizer) is not None:
        return layerwise_scheduler(optimizer, lambda opt: get_scheduler(
            name, opt, num_warmup_steps, num_training_steps, scheduler_specific_kwargs, framework=framework))
    if _is_spec_form(name, scheduler_specific_kwargs, framework):
        from .compose import build_scheduler

        return build_scheduler(name, optimizer, num_warmup_steps, num_training_steps, scheduler_specific_kwargs,
                               framework=framework)
    key = _name(name, "scheduler")
    spec = _lookup_schedule(key, framework_of(optimizer))
    factory = _factory(spec)
    arguments = schedule_arguments(spec, factory, num_warmup_steps, num_training_steps, scheduler_specific_kwargs)
    return factory(optimizer, **arguments)


def get_optimizer(name, params=None, **kwargs):
    """Build any installed optimizer from its name.

    Args:
        name: registered optimizer name or alias (``"adamw"``, ``"adafactor"``, ...).
        params: iterable of parameters or parameter groups for torch optimizers; ``None`` for
            Keras/TensorFlow optimizers, which receive their variables later. Defaults to ``None``.
        **kwargs: passed to the optimizer's constructor.
    """
    key = _name(name, "optimizer")
    framework = None
    manager = get_manager()
    candidates = {f for s in manager.specs("optimizer") if key in s.names for f in s.frameworks}
    if params is not None and candidates and "torch" not in candidates:
        raise TypeError(f"optimizer {key!r} is a Keras/TensorFlow optimizer: call get_optimizer({key!r}, **kwargs) "
                        f"without parameters (Keras optimizers receive their variables later), "
                        f"got params={type(params).__name__}")
    if len(candidates) > 1:
        framework = "torch" if params is not None else next(f for f in ("keras", "tensorflow") if f in candidates)
    spec = manager.lookup("optimizer", key, framework)
    factory = _factory(spec)
    if params is None and "torch" in spec.frameworks:
        raise TypeError(f"optimizer {spec.name!r} is a torch optimizer: pass the parameters to optimize")
    return factory(**kwargs) if params is None else factory(params, **kwargs)


def get_accumulator(name, **kwargs):
    """Build any installed gradient accumulator from its name; ``kwargs`` go to its constructor."""
    spec = get_manager().lookup("accumulator", _name(name, "accumulator"))
    return _factory(spec)(**kwargs)


def list_plugins() -> list[PluginInfo]:
    """Every discovered plugin with its distribution, version, status and what it provides."""
    return get_manager().plugins()


def register_keras_objects() -> dict:
    """Register hfopt's Keras classes with Keras' serialization, for loading saved models.

    Keras imports only its own packages while loading a model, so a fresh process that loads a
    model saved with hfopt objects (a registry schedule, ``AdamWeightDecay``, ``WarmUp``) calls
    this first. It imports the schedule adapter of the current Keras flavour and every Keras
    schedule or optimizer class exported by installed plugins that support Keras or TensorFlow
    (not plain TensorFlow helpers such as ``GradientAccumulator``). Imports TensorFlow/Keras.

    Registers each class under ``hfopt>Name`` (done when the class is defined) and under its bare
    name in Keras' global custom objects (what tf-keras' ``.h5`` optimizer configs use). Returns
    ``{name: class}``, also usable as ``custom_objects``.
    """
    from ._keras import keras_objects
    from .frameworks import keras_flavour, keras_module

    flavour = keras_flavour()
    objects = keras_objects(flavour)
    # bare class names too: tf-keras' h5 optimizer configs name schedules without the package
    keras_module(flavour).utils.get_custom_objects().update(objects)
    return objects
