"""Cosine to a minimum lr with a warmup lr rate: transformers'
``get_cosine_with_min_lr_schedule_with_warmup_lr_rate``.

Multiplier at step ``t`` with ``W`` warmup and ``T`` training steps, ``c`` cycles, minimum rate
``r`` and warmup start rate ``w``::

    t < W, w unset:  (t + 1) / max(1, W)
    t < W:           w + (1 - w) * t / max(1, W - 1)
    else:            max(0, f * (1 - r) + r)    f = 0.5 * (1 + cos(pi * c * 2 * p)),  p = (t - W + 1) / max(1, T - W)
"""
from __future__ import annotations

import math

from hfopt_core.plugin import (StepFunction, as_scheduler, check_last_epoch, check_number, check_steps,
                               min_lr_rate_of)

__all__ = ["cosine_warmup_with_min_lr_multiplier", "get_cosine_with_min_lr_schedule_with_warmup_lr_rate"]


def cosine_warmup_with_min_lr_multiplier(step, ops, *, num_warmup_steps, num_training_steps, num_cycles,
                                         min_lr_rate, warmup_lr_rate):
    """The multiplier at ``step`` (formula in the module docstring)."""
    t, warmup, total = ops.to_float(step), float(num_warmup_steps), float(num_training_steps)
    if warmup_lr_rate is None:
        ramp = (t + 1.0) / max(1.0, warmup)
    else:
        rate = float(warmup_lr_rate)
        ramp = rate + (1.0 - rate) * t / max(1, warmup - 1)
    progress = (t - warmup + 1.0) / max(1.0, total - warmup)
    factor = 0.5 * (1.0 + ops.cos(math.pi * num_cycles * 2.0 * progress))
    factor = factor * (1 - min_lr_rate) + min_lr_rate
    return ops.where(t < warmup, ramp, ops.maximum(0, factor))


def get_cosine_with_min_lr_schedule_with_warmup_lr_rate(optimizer, num_warmup_steps, num_training_steps,
                                                        num_cycles=0.5, last_epoch=-1, min_lr=None,
                                                        min_lr_rate=None, warmup_lr_rate=None, *, lr_init=None):
    """Warmup from ``warmup_lr_rate`` (or ``1/num_warmup_steps``), then cosine decay to a minimum lr.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule, or ``None`` for a plain
            ``step -> multiplier`` callable.
        num_warmup_steps: steps of the warmup phase.
        num_training_steps: total steps.
        num_cycles: number of cosine waves; 0.5 is a half-cosine. Defaults to ``0.5``.
        last_epoch: index of the last step when resuming. Defaults to ``-1``.
        min_lr: the minimum learning rate (absolute). Give this or ``min_lr_rate``. Defaults to ``None``.
        min_lr_rate: the minimum as a ratio of the initial lr. Defaults to ``None``.
        warmup_lr_rate: the first warmup step's rate; ``None`` ramps as ``(t + 1) / W``. Defaults to ``None``.
        lr_init: the initial lr, only for ``min_lr`` with ``optimizer=None`` (hfopt addition).

    Returns a ``torch.optim.lr_scheduler.LambdaLR`` (or the step function for ``optimizer=None``).
    """
    num_warmup_steps, num_training_steps = check_steps(num_warmup_steps=num_warmup_steps,
                                                       num_training_steps=num_training_steps)
    num_cycles = check_number("num_cycles", num_cycles, minimum=0)
    warmup_lr_rate = check_number("warmup_lr_rate", warmup_lr_rate, minimum=0, allow_none=True, what="ratio")
    last_epoch = check_last_epoch(last_epoch)
    rate = min_lr_rate_of(optimizer, min_lr, min_lr_rate, lr_init)
    fn = StepFunction(cosine_warmup_with_min_lr_multiplier, num_warmup_steps=num_warmup_steps,
                      num_training_steps=num_training_steps, num_cycles=num_cycles, min_lr_rate=rate,
                      warmup_lr_rate=warmup_lr_rate)
    return as_scheduler(optimizer, fn, last_epoch)
