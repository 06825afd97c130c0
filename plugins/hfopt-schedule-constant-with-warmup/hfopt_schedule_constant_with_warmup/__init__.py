"""Linear warmup, then constant: transformers' ``get_constant_schedule_with_warmup``.

Multiplier at step ``t`` with ``W`` warmup steps::

    t < W:  t / max(1, W)
    else:   1
"""
from __future__ import annotations

from hfopt_core.plugin import StepFunction, as_scheduler, check_last_epoch, check_steps, warmup_then

__all__ = ["constant_with_warmup_multiplier", "get_constant_schedule_with_warmup"]


def constant_with_warmup_multiplier(step, ops, *, num_warmup_steps):
    """The multiplier at ``step`` (formula in the module docstring)."""
    return warmup_then(step, ops, num_warmup_steps, 1.0)


def get_constant_schedule_with_warmup(optimizer, num_warmup_steps, last_epoch=-1):
    """Linear warmup from 0 to the optimizer's lr, then constant.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule, or ``None`` for a plain
            ``step -> multiplier`` callable.
        num_warmup_steps: steps of the warmup phase.
        last_epoch: index of the last step when resuming. Defaults to ``-1``.

    Returns a ``torch.optim.lr_scheduler.LambdaLR`` (or the step function for ``optimizer=None``).
    """
    (num_warmup_steps,) = check_steps(num_warmup_steps=num_warmup_steps)
    last_epoch = check_last_epoch(last_epoch)
    fn = StepFunction(constant_with_warmup_multiplier, num_warmup_steps=num_warmup_steps)
    return as_scheduler(optimizer, fn, last_epoch)
