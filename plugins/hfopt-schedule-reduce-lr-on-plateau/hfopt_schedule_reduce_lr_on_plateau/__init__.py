"""Reduce the learning rate when a metric stops improving (PyTorch only).

transformers' ``get_reduce_on_plateau_schedule``: a ``torch.optim.lr_scheduler.ReduceLROnPlateau``.
It reacts to measured metrics, so it has no step formula and no framework-free form.
"""
from __future__ import annotations

from hfopt_core.plugin import FrameworkError, check_number, framework_of

__all__ = ["get_reduce_on_plateau_schedule"]


def get_reduce_on_plateau_schedule(optimizer, **kwargs):
    """A ``torch.optim.lr_scheduler.ReduceLROnPlateau`` for ``optimizer``.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule.
        **kwargs: passed to ``ReduceLROnPlateau`` (``mode``, ``factor``, ``patience``, ...).

    Raises :class:`~hfopt_core.errors.FrameworkError` for anything but a torch optimizer, a
    ``TypeError`` naming any keyword ``ReduceLROnPlateau`` does not take, with the accepted ones,
    and a ``ValueError``/``TypeError`` naming a NaN, infinite, negative or non-numeric ``factor``,
    ``patience``, ``threshold``, ``cooldown``, ``min_lr`` or ``eps`` (``factor`` must be in (0, 1)).
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
    return ReduceLROnPlateau(optimizer, **_checked(kwargs))


def _checked(kwargs: dict) -> dict:
    """The numeric arguments checked (finite, in range) and converted to plain numbers; torch checks the rest."""
    kwargs = dict(kwargs)
    if "factor" in kwargs:
        factor = check_number("factor", kwargs["factor"])
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        kwargs["factor"] = factor
    for name in ("patience", "cooldown"):
        if name in kwargs:
            kwargs[name] = check_number(name, kwargs[name], minimum=0, integer=True, what="count")
    for name in ("threshold", "eps"):
        if name in kwargs:
            kwargs[name] = check_number(name, kwargs[name], minimum=0)
    if "min_lr" in kwargs:
        value = kwargs["min_lr"]
        if isinstance(value, (list, tuple)):
            kwargs["min_lr"] = [check_number(f"min_lr[{i}]", v, minimum=0, what="learning rate")
                                for i, v in enumerate(value)]
        else:
            kwargs["min_lr"] = check_number("min_lr", value, minimum=0, what="learning rate")
    return kwargs
