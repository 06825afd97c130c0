"""Reduce the learning rate when a metric stops improving (PyTorch only).

transformers' ``get_reduce_on_plateau_schedule``: a ``torch.optim.lr_scheduler.ReduceLROnPlateau``.
It reacts to measured metrics, so it has no step formula and no framework-free form.
"""
from __future__ import annotations

from hfopt_core.plugin import FrameworkError, framework_of

__all__ = ["get_reduce_on_plateau_schedule"]


def get_reduce_on_plateau_schedule(optimizer, **kwargs):
    """A ``torch.optim.lr_scheduler.ReduceLROnPlateau`` for ``optimizer``.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule.
        **kwargs: passed to ``ReduceLROnPlateau`` (``mode``, ``factor``, ``patience``, ...).

    Raises :class:`~hfopt_core.errors.FrameworkError` for anything but a torch optimizer.
    """
    if optimizer is None or framework_of(optimizer) != "torch":
        raise FrameworkError("reduce_lr_on_plateau is PyTorch only: pass a torch.optim.Optimizer")
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    return ReduceLROnPlateau(optimizer, **kwargs)
