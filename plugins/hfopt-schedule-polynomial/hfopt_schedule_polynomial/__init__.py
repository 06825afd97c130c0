"""Polynomial decay to ``lr_end``: transformers' ``get_polynomial_decay_schedule_with_warmup``.

Multiplier at step ``t`` with ``W`` warmup and ``T`` training steps, initial lr ``l0``::

    t < W:  t / max(1, W)
    t > T:  lr_end / l0
    else:   ((l0 - lr_end) * (1 - (t - W) / (T - W)) ** power + lr_end) / l0
"""
from __future__ import annotations

from hfopt_core.plugin import (StepFunction, as_scheduler, check_last_epoch, check_number, check_steps, initial_lr,
                               linear_warmup)

__all__ = ["get_polynomial_decay_schedule_with_warmup", "polynomial_multiplier"]


def polynomial_multiplier(step, ops, *, num_warmup_steps, num_training_steps, lr_end, power, lr_init):
    """The multiplier at ``step`` (formula in the module docstring)."""
    decay_steps = num_training_steps - num_warmup_steps
    pct_remaining = 1 - ops.to_float(step - num_warmup_steps) / float(decay_steps)
    decay = (lr_init - lr_end) * ops.pow(ops.maximum(pct_remaining, 0.0), power) + lr_end
    return ops.where(step < num_warmup_steps, linear_warmup(step, ops, num_warmup_steps),
                     ops.where(step > num_training_steps, lr_end / lr_init, decay / lr_init))


def get_polynomial_decay_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps, lr_end=1e-7,
                                              power=1.0, last_epoch=-1, *, lr_init=None):
    """Linear warmup, then polynomial decay from the optimizer's lr to ``lr_end``.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule (its ``defaults["lr"]`` is the initial
            lr), or ``None`` for a plain ``step -> multiplier`` callable.
        num_warmup_steps: steps of the warmup phase.
        num_training_steps: total steps; must differ from ``num_warmup_steps``.
        lr_end: the final learning rate. Defaults to ``1e-7``.
        power: power of the decay; 1.0 is linear, as in fairseq and BERT. Defaults to ``1.0``.
        last_epoch: index of the last step when resuming. Defaults to ``-1``.
        lr_init: the initial learning rate, only with ``optimizer=None`` (hfopt addition).

    Returns a ``torch.optim.lr_scheduler.LambdaLR`` (or the step function for ``optimizer=None``).
    Raises ``ValueError`` if ``lr_end`` is not below the initial lr, or if
    ``num_training_steps == num_warmup_steps`` (no decay phase to divide by).
    """
    num_warmup_steps, num_training_steps = check_steps(num_warmup_steps=num_warmup_steps,
                                                       num_training_steps=num_training_steps)
    lr_end = check_number("lr_end", lr_end, minimum=0, what="learning rate")
    power = check_number("power", power, minimum=0)
    last_epoch = check_last_epoch(last_epoch)
    lr_init = initial_lr(optimizer, lr_init, needed_for="polynomial decay")
    if not (lr_init > lr_end):
        raise ValueError(f"lr_end ({lr_end}) must be smaller than initial lr ({lr_init})")
    if num_training_steps == num_warmup_steps:
        raise ValueError(
            f"num_training_steps ({num_training_steps}) must differ from num_warmup_steps ({num_warmup_steps}): "
            "polynomial decay needs a decay phase")
    fn = StepFunction(polynomial_multiplier, num_warmup_steps=num_warmup_steps,
                      num_training_steps=num_training_steps, lr_end=lr_end, power=power, lr_init=lr_init)
    return as_scheduler(optimizer, fn, last_epoch)
