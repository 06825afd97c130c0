"""The hfopt plugin contract: three pluggy hooks, one per component kind.

A plugin is any module or object with functions decorated by :data:`hookimpl` and named like
the specs below. It is found through an entry point in group ``"hfopt"``::

    # pyproject.toml of the distribution "hfopt-schedule-cosine"
    [project.entry-points.hfopt]
    hfopt-schedule-cosine = "hfopt_schedule_cosine.plugin"

Each hook returns (or yields) spec objects from :mod:`hfopt_core.types`. Their factories are
import strings, so implementing a hook must stay cheap: no torch, no tensorflow, no model code.

The manager calls every hook through pluggy's hook caller, so pluggy's options apply:
``@hookimpl(tryfirst=True)`` / ``trylast`` order the calls, and a ``@hookimpl(wrapper=True)``
generator receives every plugin's result (a list with one list of specs per plugin) from its
``yield`` and returns that list, possibly filtered. Implementations must be named after their
hook (``specname`` is not supported); an ``@hookimpl`` named ``hfopt_*`` that matches no hook is
rejected by pluggy's validation and the plugin reported broken. Whatever an implementation
raises marks only its own plugin broken (pluggy calls a guarded stand-in of each implementation,
with the same options: :mod:`hfopt_core._isolation`). An entry point that names something with
none of these hooks (``os:system``) is reported broken too, with its distribution and value.
"""
from __future__ import annotations

from typing import Iterable

import pluggy

from .types import AccumulatorSpec, OptimizerSpec, ScheduleSpec

PROJECT = "hfopt"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def hfopt_schedules() -> Iterable[ScheduleSpec]:
    """Return the learning-rate schedules this plugin provides.

    Takes no arguments. Returns an iterable of :class:`~hfopt_core.types.ScheduleSpec`; the
    manager tags each with the plugin's distribution and registers it under its name and
    aliases. ``get_scheduler(name, optimizer, num_warmup_steps, num_training_steps,
    scheduler_specific_kwargs)`` then calls ``factory(optimizer, **common, **kwargs)``, passing
    the common arguments listed in ``takes`` and raising transformers' error for a missing one
    listed in ``requires``.

    Example::

        from hfopt_core import hookimpl, ScheduleSpec

        @hookimpl
        def hfopt_schedules():
            yield ScheduleSpec(
                name="my_cosine",
                factory="my_pkg.schedules:get_my_cosine_schedule",
                frameworks=("python", "torch"),
                summary="cosine to zero after a linear warmup",
                exports={"get_my_cosine_schedule": "my_pkg.schedules:get_my_cosine_schedule"},
            )
    """


@hookspec
def hfopt_optimizers() -> Iterable[OptimizerSpec]:
    """Return the optimizers this plugin provides.

    Takes no arguments. Returns an iterable of :class:`~hfopt_core.types.OptimizerSpec`.
    ``get_optimizer(name, params, **kwargs)`` calls ``factory(params, **kwargs)`` for a torch
    optimizer and ``factory(**kwargs)`` for a Keras one (``params=None``).

    Example::

        @hookimpl
        def hfopt_optimizers():
            return [OptimizerSpec(name="lion", factory="my_pkg.lion:Lion", frameworks=("torch",),
                                  exports={"Lion": "my_pkg.lion:Lion"})]
    """


@hookspec
def hfopt_accumulators() -> Iterable[AccumulatorSpec]:
    """Return the gradient accumulators this plugin provides.

    Takes no arguments. Returns an iterable of :class:`~hfopt_core.types.AccumulatorSpec`;
    ``get_accumulator(name, **kwargs)`` calls ``factory(**kwargs)``.

    Example::

        @hookimpl
        def hfopt_accumulators():
            yield AccumulatorSpec(name="gradient_accumulator", frameworks=("tensorflow",),
                                  factory="my_pkg.accum:GradientAccumulator")
    """


#: hook name -> the spec type its results must be.
HOOKS = {
    "hfopt_schedules": ScheduleSpec,
    "hfopt_optimizers": OptimizerSpec,
    "hfopt_accumulators": AccumulatorSpec,
}
