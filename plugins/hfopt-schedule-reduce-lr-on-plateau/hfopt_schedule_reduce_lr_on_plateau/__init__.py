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

    Raises :class:`~hfopt_core.errors.FrameworkError` for anything but a torch optimizer, and a
    ``TypeError`` naming any keyword ``ReduceLROnPlateau`` does not take, with the accepted ones.
    """
    if optimizer is None or framework_of(optimizer) != "torch":
        raise FrameworkError("reduce_lr_on_plateau is PyTorch only: pass a torch.optim.Optimizer")
    import inspect

    from torch.optim.lr_scheduler import ReduceLROnPlateau

    accepted = [name for name in inspect.signature(ReduceLROnPlateau).parameters if name != "optimizer"]
    unknown = sorted(key for key in kwargs if key not in accepted)
    if unknown:
        raise TypeError(f"reduce_lr_on_plateau got unknown argument(s) {', '.join(map(repr, unknown))}; "
                        f"ReduceLROnPlateau accepts: {', '.join(accepted)}")
    return ReduceLROnPlateau(optimizer, **kwargs)
