"""Argument checks shared by schedule factories (part of the plugin API, :mod:`hfopt_core.plugin`)."""
from __future__ import annotations


def initial_lr(optimizer, lr_init=None, *, needed_for: str) -> float:
    """The optimizer's initial learning rate (``optimizer.defaults["lr"]``, as transformers reads it).

    With ``optimizer=None`` the caller must pass ``lr_init``; passing both is an error.
    """
    if optimizer is None:
        if lr_init is None:
            raise ValueError(f"{needed_for} needs the initial learning rate: with optimizer=None pass lr_init=")
        return lr_init
    if lr_init is not None:
        raise ValueError("lr_init is only for optimizer=None; the optimizer's defaults['lr'] is used otherwise")
    return optimizer.defaults["lr"]


def check_steps(**steps) -> None:
    """Raise ``ValueError`` naming the argument when a step count is negative or not a number."""
    for name, value in steps.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name} must be a non-negative number of steps, got {value!r}")


def min_lr_rate_of(optimizer, min_lr, min_lr_rate, lr_init=None) -> float:
    """The minimum rate from exactly one of ``min_lr`` (absolute) and ``min_lr_rate`` (ratio).

    Raises transformers' ``ValueError`` messages when both or neither are given.
    """
    if min_lr is not None and min_lr_rate is not None:
        raise ValueError("Only one of min_lr or min_lr_rate should be set")
    if min_lr is not None:
        return min_lr / initial_lr(optimizer, lr_init, needed_for="min_lr")
    if min_lr_rate is None:
        raise ValueError("One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`")
    if lr_init is not None:
        raise ValueError("lr_init is only needed with min_lr and optimizer=None")
    return min_lr_rate
