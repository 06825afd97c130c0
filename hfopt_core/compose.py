"""Schedules built from specs: one schedule or joined phases, on every framework.

:func:`step_function` turns a spec (see :mod:`hfopt_core.specs`) into the plain
``step -> multiplier`` of the installed schedules, through the registry only: a single schedule
gives its :class:`~hfopt_core.plugin.StepFunction`, a list of phases a :class:`Joined`, which
evaluates the phase that holds the step at its local step (``step - start``) with the same ops
namespace, so it works on Python floats, torch, Keras graphs and JAX alike.

:func:`build_scheduler` is what ``get_scheduler`` does with a spec: a recording ``LambdaLR`` on
torch (see :mod:`hfopt_core._torch_specs`), a Keras ``LearningRateSchedule``, the plain callable,
or a JAX function (``framework="jax"``).
"""
from __future__ import annotations

from collections.abc import Mapping

from ._joined import Joined
from .specs import is_metric_driven, normalize_spec, phase_arguments

__all__ = ["Joined", "build_scheduler", "optax_schedule", "step_function"]

_COMMON = ("num_warmup_steps", "num_training_steps")


def _single(data: Mapping, initial_lr=None, framework="python"):
    """The plain step function of one ``{"name": ..., **arguments}``; ``initial_lr`` fills ``lr_init``."""
    return _single_with_arguments(data, initial_lr, framework)[0]


def _single_with_arguments(data: Mapping, initial_lr=None, framework="python"):
    """``(step function, the mapping spec that rebuilds it)``: ``lr_init`` included when it was filled in."""
    from ._build import factory_of, lookup_schedule, schedule_arguments
    from ._declaration import declaration

    arguments = dict(data)
    name = arguments.pop("name")
    arguments.pop("per_group", None)
    spec = lookup_schedule(name, framework)
    factory = factory_of(spec)
    used = dict(data)
    if initial_lr is not None and "lr_init" not in arguments and declaration(spec, factory).needs_lr_init(arguments):
        arguments["lr_init"] = used["lr_init"] = initial_lr
    common = {key: arguments.pop(key, None) for key in _COMMON}
    fn = factory(None, **schedule_arguments(spec, factory, common["num_warmup_steps"],
                                            common["num_training_steps"], arguments or None, stacklevel=5))
    return fn, used


def step_function(spec, num_warmup_steps=None, num_training_steps=None, scheduler_specific_kwargs=None, *,
                  initial_lr=None):
    """The plain ``step -> multiplier`` of a spec, built through the registry (nothing else is imported).

    Args:
        spec: a name, a mapping ``{"name": ..., **arguments}`` or a list of phases (see
            :mod:`hfopt_core.specs`); a canonical form from :func:`~hfopt_core.specs.normalize_spec` too.
        num_warmup_steps: merged into a name or mapping. Defaults to ``None``.
        num_training_steps: the run length. Defaults to ``None``.
        scheduler_specific_kwargs: merged into a name or mapping. Defaults to ``None``.
        initial_lr: the learning rate the multipliers scale, given as ``lr_init`` to schedules
            whose floor depends on it (``polynomial``, ``min_lr=``). Keyword only. Defaults to ``None``.

    Returns a :class:`~hfopt_core.plugin.StepFunction` for one schedule and a :class:`Joined` for
    phases (each phase sees its local step and ``num_training_steps`` equal to its length).
    Raises ``ValueError`` for a metric-driven schedule, which has no step form.
    """
    data = normalize_spec(spec, num_warmup_steps, num_training_steps, scheduler_specific_kwargs)
    return _plain(data, None if initial_lr is None else (lambda: initial_lr))


def _metric_phase(phases: list):
    """``(closed-form phases, the metric-driven last phase or None)``; a metric phase elsewhere is an error."""
    from .manager import get_manager

    metric = []
    for index, phase in enumerate(phases):
        spec = get_manager().lookup("schedule", phase["name"])
        if is_metric_driven(spec):
            metric.append(index)
    if not metric:
        return phases, None
    if metric != [len(phases) - 1]:
        first = phases[metric[0]]["name"]
        raise ValueError(f"phase {metric[0]} ({first!r}) is metric-driven: only the last phase may be")
    return phases[:-1], phases[-1]


def build_scheduler(spec, optimizer, num_warmup_steps=None, num_training_steps=None, scheduler_specific_kwargs=None,
                    *, framework=None):
    """What ``get_scheduler`` builds for a spec (a mapping, a list of phases, or ``per_group`` / ``framework``).

    * ``framework="jax"`` (``optimizer=None``): a jit-able ``step -> multiplier`` on ``jax.numpy``;
    * ``optimizer=None``: the plain step function;
    * a torch optimizer: a :class:`~hfopt_core._torch_specs.SpecLambdaLR` recording spec and
      horizon (one function per group with ``per_group=True``), or a
      :class:`~hfopt_core._torch_specs.PhasedMetricScheduler` when the last phase is metric-driven;
      a single metric-driven schedule is built as by name;
    * a Keras optimizer: the Keras ``LearningRateSchedule`` installed on it.
    """
    from ._schedules import as_scheduler, framework_of

    data = normalize_spec(spec, num_warmup_steps, num_training_steps, scheduler_specific_kwargs)
    per_group = _per_group(data)
    if framework == "jax":
        if optimizer is not None:
            raise ValueError(f"framework='jax' builds a step -> multiplier function: pass optimizer=None, "
                             f"got {type(optimizer).__name__}")
        from ._jax import jax_schedule

        return jax_schedule(_plain(data))
    kind = framework_of(optimizer)
    if per_group and kind != "torch":
        raise ValueError(f"per_group=True takes floors relative to each torch parameter group's lr; "
                         f"it needs a torch optimizer, got {kind}")
    if isinstance(data, dict):
        from .manager import get_manager

        if is_metric_driven(get_manager().lookup("schedule", data["name"])):
            from ._build import build_named

            arguments = {k: v for k, v in data.items() if k not in ("name", *_COMMON)}
            return build_named(data["name"], optimizer, data.get("num_warmup_steps"),
                               data.get("num_training_steps"), arguments or None)
    if kind == "python":
        return _plain(data)
    if kind == "keras":
        from ._checks import initial_lr

        return as_scheduler(optimizer, _plain(data, lambda: initial_lr(optimizer, needed_for="this schedule")))
    horizon = data.get("num_training_steps") if isinstance(data, dict) else num_training_steps
    return _torch(data, optimizer, per_group, horizon)


def _per_group(data) -> bool:
    phases = data if isinstance(data, list) else [data]
    flags = [p.get("per_group", False) for p in phases]
    for flag in flags:
        if not isinstance(flag, bool):
            raise TypeError(f"per_group must be True or False, got {flag!r}")
    return any(flags)


def _plain(data, lr=None):
    """The step function of canonical ``data``; ``lr()`` gives the initial lr when a schedule needs one."""
    if isinstance(data, list):
        closed, metric = _metric_phase(data)
        if metric is not None:
            raise ValueError(f"the last phase ({metric['name']!r}) is metric-driven: it needs a torch optimizer "
                             "(scheduler.step(metric)); it has no step -> multiplier form")
    initial = _LazyLr(lr)
    if isinstance(data, dict):
        return _single(data, initial.value(data))
    built, recorded = [], []
    for index, (start, phase) in enumerate(_starts(data)):
        try:
            fn, used = _single_with_arguments(phase_arguments(phase), initial.value(phase))
        except (ValueError, TypeError) as exc:
            if type(exc) not in (ValueError, TypeError):
                raise
            raise type(exc)(f"phase {index} ({phase['name']!r}): {exc}") from exc
        built.append((start, fn))
        recorded.append({**phase, **{k: v for k, v in used.items() if k == "lr_init"}})
    return Joined(built, spec=recorded)


def _starts(phases):
    start = 0
    for phase in phases:
        yield start, phase
        start += phase["steps"] or 0


class _LazyLr:
    """The optimizer's initial lr, read only when a schedule needs it (``lr`` is a callable or ``None``)."""

    def __init__(self, lr):
        self._lr, self._value = lr, None

    def value(self, data):
        if self._lr is None:
            return None
        if self._value is None:
            self._value = self._lr()
        return self._value


def _group_lr(group) -> float:
    return group.get("initial_lr", group["lr"])


def _torch(data, optimizer, per_group, horizon):
    from ._checks import initial_lr
    from ._torch_specs import PhasedMetricScheduler, SpecLambdaLR

    def defaults_lr():
        return initial_lr(optimizer, needed_for="this schedule")

    phases = data if isinstance(data, list) else None
    metric = None
    if phases is not None:
        closed, metric = _metric_phase(phases)
    else:
        closed = data
    if per_group:
        functions = [_plain(closed, (lambda g=group: float(_group_lr(g)))) if closed else None
                     for group in optimizer.param_groups]
    else:
        shared = _plain(closed, defaults_lr) if closed else None
        functions = [shared] * len(optimizer.param_groups)
    if metric is not None:
        start = sum(p["steps"] for p in closed)
        return PhasedMetricScheduler(optimizer, functions, start, metric, spec=data, horizon=horizon)
    lambdas = functions if per_group else functions[0]
    return SpecLambdaLR(optimizer, lambdas, spec=data, horizon=horizon)


def optax_schedule(spec, learning_rate, num_warmup_steps=None, num_training_steps=None,
                   scheduler_specific_kwargs=None):
    """An optax schedule ``step -> learning rate`` from any closed-form spec.

    Args:
        spec: a schedule name, a mapping ``{"name": ..., **arguments}`` or a list of phases
            (see :mod:`hfopt_core.specs`).
        learning_rate: the peak learning rate the multipliers scale (a positive number); also
            the initial lr of schedules whose floor is relative to it (``polynomial``, ``min_lr``).
        num_warmup_steps: as for ``get_scheduler``. Defaults to ``None``.
        num_training_steps: as for ``get_scheduler``. Defaults to ``None``.
        scheduler_specific_kwargs: as for ``get_scheduler``. Defaults to ``None``.

    Returns a :class:`JaxSchedule` (``learning_rate * multiplier(step)``), usable as
    ``optax.adamw(learning_rate=schedule)`` and under ``jax.jit``.
    """
    from ._checks import check_number
    from ._jax import JaxSchedule

    learning_rate = check_number("learning_rate", learning_rate, positive=True, what="learning rate")
    fn = step_function(spec, num_warmup_steps, num_training_steps, scheduler_specific_kwargs,
                       initial_lr=learning_rate)
    return JaxSchedule(fn, scale=learning_rate)
