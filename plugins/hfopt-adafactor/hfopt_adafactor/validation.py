"""Argument checks for :class:`~hfopt_adafactor.Adafactor`, run on every parameter group.

transformers' two errors come first with its exact messages; the rest fail early where
transformers fails late (or not at all), with a ``ValueError`` that names the argument.
"""
from __future__ import annotations

import numbers


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_group(group: dict) -> None:
    """Raise ``ValueError`` when a parameter group's hyperparameters are invalid.

    Args:
        group: the merged parameter group (``lr``, ``eps``, ``clip_threshold``, ``decay_rate``,
            ``beta1``, ``weight_decay``, ``relative_step``, ``warmup_init``,
            ``min_dim_size_to_factor``, ...).
    """
    lr, relative_step = group["lr"], group["relative_step"]
    if lr is not None and relative_step:
        raise ValueError("Cannot combine manual `lr` and `relative_step=True` options")
    if group["warmup_init"] and not relative_step:
        raise ValueError("`warmup_init=True` requires `relative_step=True`")
    if lr is None and not relative_step:
        raise ValueError("`relative_step=False` requires a manual `lr` (got lr=None)")
    if lr is not None and _number(lr) and lr < 0:
        raise ValueError(f"Invalid learning rate: lr={lr!r} must be >= 0")

    eps = group["eps"]
    if not isinstance(eps, (tuple, list)) or len(eps) != 2 or not all(_number(e) for e in eps):
        raise ValueError(f"Invalid eps: expected a pair of numbers (eps1, eps2), got {eps!r}")
    for i, e in enumerate(eps):
        if e < 0:
            raise ValueError(f"Invalid eps[{i}]: {e!r} must be >= 0 (eps={tuple(eps)!r})")

    clip = group["clip_threshold"]
    if not _number(clip) or not clip > 0:
        raise ValueError(f"Invalid clip_threshold: {clip!r} must be > 0")

    decay_rate = group["decay_rate"]
    if not _number(decay_rate) or not decay_rate < 0:
        raise ValueError(f"Invalid decay_rate: {decay_rate!r} must be negative (beta2_t = 1 - t**decay_rate)")

    beta1 = group["beta1"]
    if beta1 is not None and (not _number(beta1) or not 0.0 <= beta1 < 1.0):
        raise ValueError(f"Invalid beta1: {beta1!r} must be None or in [0, 1)")

    weight_decay = group["weight_decay"]
    if not _number(weight_decay) or weight_decay < 0:
        raise ValueError(f"Invalid weight_decay: {weight_decay!r} must be >= 0")

    min_dim = group.get("min_dim_size_to_factor")
    if min_dim is not None and (not isinstance(min_dim, int) or isinstance(min_dim, bool) or min_dim < 1):
        raise ValueError(f"Invalid min_dim_size_to_factor: {min_dim!r} must be None or a positive int")

    seed = group.get("stochastic_rounding_seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"Invalid stochastic_rounding_seed: {seed!r} must be an int")
