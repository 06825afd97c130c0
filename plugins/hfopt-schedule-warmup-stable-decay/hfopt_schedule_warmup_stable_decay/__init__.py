"""Warmup-stable-decay: transformers' ``get_wsd_schedule``.

Multiplier at step ``t`` with ``W`` warmup, ``S`` stable and ``D`` decay steps, minimum ratio ``m``::

    t < W:          max(0, warm(t / max(1, W)) * (1 - m) + m)
    t < W + S:      1
    t < W + S + D:  max(0, decay((t - W - S) / max(1, D)) * (1 - m) + m)
    else:           m

with ``warm(p)`` = ``p`` (linear), ``0.5 * (1 - cos(pi * p))`` (cosine) or ``1 - sqrt(1 - p)``
(1-sqrt), and ``decay(p)`` = ``1 - p``, ``0.5 * (1 + cos(pi * c * 2 * p))`` or ``1 - sqrt(p)``.
"""
from __future__ import annotations

import math
import warnings

from hfopt_core.plugin import StepFunction, as_scheduler, check_last_epoch, check_number, check_steps, linear_warmup

__all__ = ["get_wsd_schedule", "wsd_multiplier"]

SHAPES = ("linear", "cosine", "1-sqrt")


def _warmup_shape(kind, ops, progress):
    if kind == "linear":
        return progress
    if kind == "cosine":
        return 0.5 * (1.0 - ops.cos(math.pi * progress))
    return 1.0 - ops.sqrt(1.0 - ops.minimum(progress, 1.0))


def _decay_shape(kind, ops, progress, num_cycles):
    if kind == "linear":
        return 1.0 - progress
    if kind == "cosine":
        return 0.5 * (1.0 + ops.cos(math.pi * float(num_cycles) * 2.0 * progress))
    return 1.0 - ops.sqrt(ops.maximum(progress, 0.0))


def wsd_multiplier(step, ops, *, num_warmup_steps, num_stable_steps, num_decay_steps, warmup_type, decay_type,
                   min_lr_ratio, num_cycles):
    """The multiplier at ``step`` (formula in the module docstring)."""
    warm = _warmup_shape(warmup_type, ops, linear_warmup(step, ops, num_warmup_steps))
    decay_progress = ops.to_float(step - num_warmup_steps - num_stable_steps) / float(max(1, num_decay_steps))
    decay = _decay_shape(decay_type, ops, decay_progress, num_cycles)
    stable_end = num_warmup_steps + num_stable_steps
    return ops.where(
        step < num_warmup_steps, ops.maximum(0.0, warm * (1.0 - min_lr_ratio) + min_lr_ratio),
        ops.where(step < stable_end, 1.0,
                  ops.where(step < stable_end + num_decay_steps,
                            ops.maximum(0.0, decay * (1.0 - min_lr_ratio) + min_lr_ratio),
                            min_lr_ratio)))


def get_wsd_schedule(optimizer, num_warmup_steps, num_decay_steps, num_training_steps=None, num_stable_steps=None,
                     warmup_type="linear", decay_type="cosine", min_lr_ratio=0, num_cycles=0.5, last_epoch=-1):
    """Warmup from ``min_lr_ratio`` to the optimizer's lr, hold it, then decay back to ``min_lr_ratio``.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule, or ``None`` for a plain
            ``step -> multiplier`` callable.
        num_warmup_steps: steps of the warmup phase.
        num_decay_steps: steps of the decay phase.
        num_training_steps: total steps; the stable phase is what warmup and decay leave.
            Give this or ``num_stable_steps``. Defaults to ``None``.
        num_stable_steps: steps of the stable phase; wins over ``num_training_steps`` (with a
            warning) when both are given. Defaults to ``None``.
        warmup_type: ``"linear"``, ``"cosine"`` or ``"1-sqrt"``. Defaults to ``"linear"``.
        decay_type: ``"linear"``, ``"cosine"`` or ``"1-sqrt"``. Defaults to ``"cosine"``.
        min_lr_ratio: the minimum as a ratio of the initial lr. Defaults to ``0``.
        num_cycles: cosine waves of a cosine decay; 0.5 is a half-cosine. Defaults to ``0.5``.
        last_epoch: index of the last step when resuming. Defaults to ``-1``.

    Returns a ``torch.optim.lr_scheduler.LambdaLR`` (or the step function for ``optimizer=None``).
    Raises ``ValueError`` when neither phase length is given, for an unknown shape, and when the
    stable phase would be negative (``num_training_steps < num_warmup_steps + num_decay_steps``).
    """
    if num_training_steps is None and num_stable_steps is None:
        raise ValueError("Either num_training_steps or num_stable_steps must be specified.")
    if num_training_steps is not None and num_stable_steps is not None:
        warnings.warn("Both num_training_steps and num_stable_steps are specified. num_stable_steps will be used.")
    if warmup_type not in SHAPES:
        raise ValueError(f"Unknown warmup type: {warmup_type}, expected 'linear', 'cosine' or '1-sqrt'")
    if decay_type not in SHAPES:
        raise ValueError(f"Unknown decay type: {decay_type}, expected 'linear', 'cosine' or '1-sqrt'")
    num_warmup_steps, num_decay_steps, num_training_steps, num_stable_steps = check_steps(
        num_warmup_steps=num_warmup_steps, num_decay_steps=num_decay_steps,
        num_training_steps=num_training_steps, num_stable_steps=num_stable_steps)
    min_lr_ratio = check_number("min_lr_ratio", min_lr_ratio, minimum=0, what="ratio")
    num_cycles = check_number("num_cycles", num_cycles, minimum=0)
    last_epoch = check_last_epoch(last_epoch)
    if num_stable_steps is None:
        num_stable_steps = num_training_steps - num_warmup_steps - num_decay_steps
        if num_stable_steps < 0:
            raise ValueError(
                f"num_training_steps ({num_training_steps}) must be at least num_warmup_steps ({num_warmup_steps}) "
                f"+ num_decay_steps ({num_decay_steps}): the stable phase would be {num_stable_steps} steps")
    fn = StepFunction(wsd_multiplier, num_warmup_steps=num_warmup_steps, num_stable_steps=num_stable_steps,
                      num_decay_steps=num_decay_steps, warmup_type=warmup_type, decay_type=decay_type,
                      min_lr_ratio=min_lr_ratio, num_cycles=num_cycles)
    return as_scheduler(optimizer, fn, last_epoch)
