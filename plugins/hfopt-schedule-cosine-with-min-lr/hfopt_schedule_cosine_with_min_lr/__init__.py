"""Cosine decay to a minimum lr: transformers' ``get_cosine_with_min_lr_schedule_with_warmup``.

Multiplier at step ``t`` with ``W`` warmup and ``T`` training steps, ``c`` cycles and minimum
rate ``r`` (``min_lr / initial lr`` or ``min_lr_rate``)::

    t < W:  t / max(1, W)
    else:   max(0, f * (1 - r) + r)     f = 0.5 * (1 + cos(pi * c * 2 * p)),  p = (t - W) / max(1, T - W)
"""
from __future__ import annotations

import math

from hfopt_core.plugin import (StepFunction, as_scheduler, check_last_epoch, check_number, check_steps, decay_progress,
                               min_lr_rate_of, warmup_then)

__all__ = ["cosine_with_min_lr_multiplier", "get_cosine_with_min_lr_schedule_with_warmup"]


def cosine_with_min_lr_multiplier(step, ops, *, num_warmup_steps, num_training_steps, num_cycles, min_lr_rate):
    """The multiplier at ``step`` (formula in the module docstring)."""
    progress = decay_progress(step, ops, num_warmup_steps, num_training_steps)
    factor = 0.5 * (1.0 + ops.cos(math.pi * float(num_cycles) * 2.0 * progress))
    factor = factor * (1 - min_lr_rate) + min_lr_rate
    return warmup_then(step, ops, num_warmup_steps, ops.maximum(0, factor))


def get_cosine_with_min_lr_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps, num_cycles=0.5,
                                                last_epoch=-1, min_lr=None, min_lr_rate=None, *, lr_init=None):
    """Linear warmup, then cosine decay from the optimizer's lr to a minimum lr.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule, or ``None`` for a plain
            ``step -> multiplier`` callable.
        num_warmup_steps: steps of the warmup phase.
        num_training_steps: total steps.
        num_cycles: number of cosine waves; 0.5 is a half-cosine. Defaults to ``0.5``.
        last_epoch: index of the last step when resuming. Defaults to ``-1``.
        min_lr: the minimum learning rate (absolute). Give this or ``min_lr_rate``. Defaults to ``None``.
        min_lr_rate: the minimum as a ratio of the initial lr. Defaults to ``None``.
        lr_init: the initial lr, only for ``min_lr`` with ``optimizer=None`` (hfopt addition).

    Returns a ``torch.optim.lr_scheduler.LambdaLR`` (or the step function for ``optimizer=None``).
    """
    num_warmup_steps, num_training_steps = check_steps(num_warmup_steps=num_warmup_steps,
                                                       num_training_steps=num_training_steps)
    num_cycles = check_number("num_cycles", num_cycles, minimum=0)
    last_epoch = check_last_epoch(last_epoch)
    rate = min_lr_rate_of(optimizer, min_lr, min_lr_rate, lr_init)
    fn = StepFunction(cosine_with_min_lr_multiplier, num_warmup_steps=num_warmup_steps,
                      num_training_steps=num_training_steps, num_cycles=num_cycles, min_lr_rate=rate)
    return as_scheduler(optimizer, fn, last_epoch)
