"""Cosine with hard restarts: transformers' ``get_cosine_with_hard_restarts_schedule_with_warmup``.

Multiplier at step ``t`` with ``W`` warmup and ``T`` training steps and ``c`` cycles::

    t < W:   t / max(1, W)
    p >= 1:  0                                          p = (t - W) / max(1, T - W)
    else:    max(0, 0.5 * (1 + cos(pi * ((c * p) mod 1))))
"""
from __future__ import annotations

import math

from hfopt_core.plugin import (StepFunction, as_scheduler, check_last_epoch, check_number, check_steps, decay_progress,
                               warmup_then)

__all__ = ["cosine_with_restarts_multiplier", "get_cosine_with_hard_restarts_schedule_with_warmup"]


def cosine_with_restarts_multiplier(step, ops, *, num_warmup_steps, num_training_steps, num_cycles):
    """The multiplier at ``step`` (formula in the module docstring)."""
    progress = decay_progress(step, ops, num_warmup_steps, num_training_steps)
    wave = ops.maximum(0.0, 0.5 * (1.0 + ops.cos(math.pi * ops.mod(float(num_cycles) * progress, 1.0))))
    return warmup_then(step, ops, num_warmup_steps, ops.where(progress >= 1.0, 0.0, wave))


def get_cosine_with_hard_restarts_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps,
                                                       num_cycles=1, last_epoch=-1):
    """Linear warmup, then ``num_cycles`` cosine decays from the optimizer's lr to 0 with hard restarts.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule, or ``None`` for a plain
            ``step -> multiplier`` callable.
        num_warmup_steps: steps of the warmup phase.
        num_training_steps: total steps.
        num_cycles: number of hard restarts. Defaults to ``1``.
        last_epoch: index of the last step when resuming. Defaults to ``-1``.

    Returns a ``torch.optim.lr_scheduler.LambdaLR`` (or the step function for ``optimizer=None``).
    """
    num_warmup_steps, num_training_steps = check_steps(num_warmup_steps=num_warmup_steps,
                                                       num_training_steps=num_training_steps)
    num_cycles = check_number("num_cycles", num_cycles, minimum=0)
    last_epoch = check_last_epoch(last_epoch)
    fn = StepFunction(cosine_with_restarts_multiplier, num_warmup_steps=num_warmup_steps,
                      num_training_steps=num_training_steps, num_cycles=num_cycles)
    return as_scheduler(optimizer, fn, last_epoch)
