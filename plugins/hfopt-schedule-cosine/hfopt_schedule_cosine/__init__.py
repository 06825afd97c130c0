"""Cosine decay to 0 after a linear warmup: transformers' ``get_cosine_schedule_with_warmup``.

Multiplier at step ``t`` with ``W`` warmup and ``T`` training steps and ``c`` cycles::

    t < W:  t / max(1, W)
    else:   max(0, 0.5 * (1 + cos(pi * c * 2 * p)))     p = (t - W) / max(1, T - W)
"""
from __future__ import annotations

import math

from hfopt_core.plugin import (StepFunction, as_scheduler, check_last_epoch, check_number, check_steps, decay_progress,
                               warmup_then)

__all__ = ["cosine_multiplier", "get_cosine_schedule_with_warmup"]


def cosine_multiplier(step, ops, *, num_warmup_steps, num_training_steps, num_cycles):
    """The multiplier at ``step`` (formula in the module docstring)."""
    progress = decay_progress(step, ops, num_warmup_steps, num_training_steps)
    cosine = ops.maximum(0.0, 0.5 * (1.0 + ops.cos(math.pi * float(num_cycles) * 2.0 * progress)))
    return warmup_then(step, ops, num_warmup_steps, cosine)


def get_cosine_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps, num_cycles=0.5,
                                    last_epoch=-1):
    """Linear warmup from 0 to the optimizer's lr, then cosine decay to 0.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule, or ``None`` for a plain
            ``step -> multiplier`` callable.
        num_warmup_steps: steps of the warmup phase.
        num_training_steps: total steps.
        num_cycles: number of cosine waves; the default 0.5 is a half-cosine from max to 0.
            Defaults to ``0.5``.
        last_epoch: index of the last step when resuming. Defaults to ``-1``.

    Returns a ``torch.optim.lr_scheduler.LambdaLR`` (or the step function for ``optimizer=None``).
    """
    num_warmup_steps, num_training_steps = check_steps(num_warmup_steps=num_warmup_steps,
                                                       num_training_steps=num_training_steps)
    num_cycles = check_number("num_cycles", num_cycles, minimum=0)
    last_epoch = check_last_epoch(last_epoch)
    fn = StepFunction(cosine_multiplier, num_warmup_steps=num_warmup_steps,
                      num_training_steps=num_training_steps, num_cycles=num_cycles)
    return as_scheduler(optimizer, fn, last_epoch)
