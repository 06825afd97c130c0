"""Linear warmup, then linear decay to 0: transformers' ``get_linear_schedule_with_warmup``.

Multiplier at step ``t`` with ``W`` warmup and ``T`` training steps::

    t < W:  t / max(1, W)
    else:   max(0, (T - t) / max(1, T - W))
"""
from __future__ import annotations

from hfopt_core.plugin import StepFunction, as_scheduler, check_last_epoch, check_steps, warmup_then

__all__ = ["get_linear_schedule_with_warmup", "linear_multiplier"]


def linear_multiplier(step, ops, *, num_warmup_steps, num_training_steps):
    """The multiplier at ``step`` (formula in the module docstring)."""
    remaining = ops.to_float(num_training_steps - step) / float(max(1, num_training_steps - num_warmup_steps))
    return warmup_then(step, ops, num_warmup_steps, ops.maximum(0.0, remaining))


def get_linear_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps, last_epoch=-1):
    """Linear warmup from 0 to the optimizer's lr, then linear decay to 0 at ``num_training_steps``.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule, or ``None`` for a plain
            ``step -> multiplier`` callable.
        num_warmup_steps: steps of the warmup phase.
        num_training_steps: total steps.
        last_epoch: index of the last step when resuming. Defaults to ``-1``.

    Returns a ``torch.optim.lr_scheduler.LambdaLR`` (or the step function for ``optimizer=None``).
    """
    num_warmup_steps, num_training_steps = check_steps(num_warmup_steps=num_warmup_steps,
                                                       num_training_steps=num_training_steps)
    last_epoch = check_last_epoch(last_epoch)
    fn = StepFunction(linear_multiplier, num_warmup_steps=num_warmup_steps, num_training_steps=num_training_steps)
    return as_scheduler(optimizer, fn, last_epoch)
