"""The user-facing lookups: ``get_scheduler``, ``get_optimizer``, ``get_accumulator``, ``list_plugins``."""
from __future__ import annotations

from collections.abc import Mapping

from ._build import build_named, factory_of
from ._layerwise import layerwise_optimizers, layerwise_scheduler
from .manager import get_manager, resolve
from .scheduler_type import SchedulerType
from .types import PluginInfo

#: ``_factory`` is the 0.1 name of :func:`hfopt_core._build.factory_of` (other modules import it).
_factory = factory_of


def _name(name, what: str) -> str:
    if isinstance(name, SchedulerType):
        return name.value
    if not isinstance(name, str):
        raise TypeError(f"{what} name must be a str, got {type(name).__name__}: {name!r}")
    return name


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
    return build_named(_name(name, "scheduler"), optimizer, num_warmup_steps, num_training_steps,
                       scheduler_specific_kwargs)


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
