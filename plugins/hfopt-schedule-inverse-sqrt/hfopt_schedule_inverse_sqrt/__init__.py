"""Inverse square-root decay: transformers' ``get_inverse_sqrt_schedule``.

Multiplier at step ``t`` with ``W`` warmup steps and time scale ``s``::

    t < W:  t / max(1, W)
    else:   1 / sqrt((t + s - W) / s)
"""
from __future__ import annotations

from hfopt_core.plugin import StepFunction, as_scheduler, check_last_epoch, check_number, check_steps, warmup_then

__all__ = ["get_inverse_sqrt_schedule", "inverse_sqrt_multiplier"]


def inverse_sqrt_multiplier(step, ops, *, num_warmup_steps, timescale):
    """The multiplier at ``step`` (formula in the module docstring)."""
    shift = timescale - num_warmup_steps
    after_warmup = ops.maximum(step, num_warmup_steps)  # keeps the unused branch finite
    decay = 1.0 / ops.sqrt(ops.to_float(after_warmup + shift) / float(timescale))
    return warmup_then(step, ops, num_warmup_steps, decay)


def get_inverse_sqrt_schedule(optimizer, num_warmup_steps, timescale=None, last_epoch=-1):
    """Linear warmup, then decay proportional to the inverse square root of the step.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule, or ``None`` for a plain
            ``step -> multiplier`` callable.
        num_warmup_steps: steps of the warmup phase.
        timescale: time scale of the decay, positive. Defaults to ``num_warmup_steps``, or
            10 000 when that is 0.
        last_epoch: index of the last step when resuming. Defaults to ``-1``.

    Returns a ``torch.optim.lr_scheduler.LambdaLR`` (or the step function for ``optimizer=None``).
    """
    (num_warmup_steps,) = check_steps(num_warmup_steps=num_warmup_steps)
    if timescale is None:
        timescale = num_warmup_steps or 10_000
    timescale = check_number("timescale", timescale, positive=True, what="number of steps")
    last_epoch = check_last_epoch(last_epoch)
    fn = StepFunction(inverse_sqrt_multiplier, num_warmup_steps=num_warmup_steps, timescale=timescale)
    return as_scheduler(optimizer, fn, last_epoch)
