"""The user-facing lookups: ``get_scheduler``, ``get_optimizer``, ``get_accumulator``, ``list_plugins``."""
from __future__ import annotations

import warnings

from ._lazy import missing_framework
from .manager import get_manager, resolve
from .scheduler_type import SchedulerType
from ._schedules import framework_of
from .types import PluginInfo

_SCHEDULER_TYPES = {m.value: m for m in SchedulerType}


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


def get_scheduler(name, optimizer, num_warmup_steps=None, num_training_steps=None,
                  scheduler_specific_kwargs=None):
    """Build any installed learning-rate schedule from its name (transformers' ``get_scheduler``).

    Args:
        name: a :class:`SchedulerType` or any registered schedule name (or alias).
        optimizer: a ``torch.optim.Optimizer``; ``None`` returns a plain, picklable
            ``step -> multiplier`` callable for schedules that support it.
        num_warmup_steps: warmup steps; required by every schedule but ``constant``,
            ``reduce_lr_on_plateau`` and ``greedy``. Defaults to ``None``.
        num_training_steps: total steps; required by the decaying schedules. Defaults to ``None``.
        scheduler_specific_kwargs: extra keyword arguments for the schedule function (``num_cycles``,
            ``timescale``, ``min_lr_rate``, ...). Defaults to ``None``.

    Raises ``ValueError`` with transformers' message when a required step count is missing, an
    :class:`~hfopt_core.errors.UnknownNameError` (a ``ValueError``) for a name nothing provides,
    and a :class:`~hfopt_core.errors.FrameworkError` for an optimizer the schedule cannot drive.
    """
    key = _name(name, "scheduler")
    spec = get_manager().lookup("schedule", key, framework_of(optimizer))
    member = _SCHEDULER_TYPES.get(spec.name)
    label = str(member) if member is not None else spec.name
    common = {"num_warmup_steps": num_warmup_steps, "num_training_steps": num_training_steps}
    kwargs = dict(scheduler_specific_kwargs or {})
    if kwargs and not spec.accepts_kwargs:
        warnings.warn(f"{label} takes no scheduler_specific_kwargs; ignoring {sorted(kwargs)}", UserWarning,
                      stacklevel=2)
        kwargs = {}
    for arg in spec.requires:
        if common[arg] is None:
            raise ValueError(f"{label} requires `{arg}`, please provide that argument.")
    return _factory(spec)(optimizer, **{a: common[a] for a in spec.takes}, **kwargs)


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
