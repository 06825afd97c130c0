"""The plugin API: everything an hfopt plugin may import, in one module.

First-party plugins import only from here, and third-party plugins should too: these names are
the stable surface of ``hfopt-core`` within a minor version (``hfopt-core>=0.1,<0.2``). Every
other module of the core is internal (the ``_``-prefixed ones) or user-facing
(:mod:`hfopt_core.api`), and may change between releases.

Declaring components (in the module the entry point names, which must stay light)::

    from hfopt_core.plugin import ScheduleSpec, hookimpl

    @hookimpl
    def hfopt_schedules():
        yield ScheduleSpec(name="my_cosine", factory="my_pkg:get_my_cosine_schedule",
                           frameworks=("python", "torch", "keras"))

Writing a schedule once for every framework::

    from hfopt_core.plugin import StepFunction, as_scheduler, check_steps, warmup_then

    def my_multiplier(step, ops, *, num_warmup_steps):
        return warmup_then(step, ops, num_warmup_steps, 1.0)

    def get_my_schedule(optimizer, num_warmup_steps, last_epoch=-1):
        check_steps(num_warmup_steps=num_warmup_steps)
        return as_scheduler(optimizer, StepFunction(my_multiplier, num_warmup_steps=num_warmup_steps),
                            last_epoch)

Contents:

* hooks and specs: :data:`hookimpl`, :class:`ScheduleSpec`, :class:`OptimizerSpec`,
  :class:`AccumulatorSpec`, :class:`ComponentSpec`, :data:`FRAMEWORKS`;
* schedules: :class:`StepFunction`, :func:`as_scheduler`, :func:`framework_of`, the Python ops
  namespace :data:`PY_OPS` and the formula helpers :func:`linear_warmup`, :func:`warmup_then`,
  :func:`decay_progress`;
* argument checks, one message form (``"<argument> must be <what>, got <value>"``) for every plugin,
  torch and TF alike: :func:`check_number`, :func:`argument_error`, :func:`check_steps`, :func:`check_last_epoch`,
  :func:`initial_lr`, :func:`min_lr_rate_of`, :func:`plain_number`;
* which framework / Keras: :func:`keras_flavour` (the flavour of hfopt's Keras classes in this
  process), :func:`requested_flavour`, :func:`check_keras_flavour`, :func:`keras_module`,
  :func:`keras_backend`, :func:`flavour_of` (see :mod:`hfopt_core.frameworks`);
* packaging: :func:`lazy_exports` (a package ``__init__`` that imports its framework on first use);
* errors a plugin may raise: :class:`FrameworkError`.
"""
from __future__ import annotations

from ._checks import (argument_error, check_last_epoch, check_number, check_steps, initial_lr, min_lr_rate_of,
                      plain_number)
from ._formulas import decay_progress, linear_warmup, warmup_then
from ._lazy import lazy_exports
from ._ops import PY_OPS
from ._schedules import StepFunction, as_scheduler, framework_of
from .errors import FrameworkError
from .frameworks import (check_keras_flavour, flavour_of, keras_backend, keras_flavour, keras_module,
                         requested_flavour)
from .hookspecs import hookimpl
from .types import FRAMEWORKS, AccumulatorSpec, ComponentSpec, OptimizerSpec, ScheduleSpec

__all__ = [
    "FRAMEWORKS", "PY_OPS", "AccumulatorSpec", "ComponentSpec", "FrameworkError", "OptimizerSpec",
    "ScheduleSpec", "StepFunction", "as_scheduler", "check_last_epoch", "check_number", "check_steps", "decay_progress", "framework_of",
    "hookimpl", "initial_lr", "lazy_exports", "linear_warmup", "min_lr_rate_of", "plain_number", "warmup_then",
    "argument_error",
    "check_keras_flavour", "flavour_of", "keras_backend", "keras_flavour", "keras_module", "requested_flavour",
]
