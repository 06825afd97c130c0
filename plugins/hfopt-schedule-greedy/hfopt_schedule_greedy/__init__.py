"""GreedyLR, the metric-driven schedule of transformers 5.x (PyTorch only): ``get_greedy_schedule``."""
from __future__ import annotations

from .greedy import GreedyLR, StreamingAverage

__all__ = ["GreedyLR", "StreamingAverage", "get_greedy_schedule"]


def get_greedy_schedule(optimizer, **kwargs):
    """A :class:`GreedyLR` for ``optimizer``.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule.
        **kwargs: passed to :class:`GreedyLR` (``mode``, ``factor``, ``patience``, ...).

    Raises a ``TypeError`` naming any keyword :class:`GreedyLR` does not take, with the accepted ones.
    """
    import inspect

    accepted = [name for name in inspect.signature(GreedyLR).parameters if name != "optimizer"]
    unknown = sorted(key for key in kwargs if key not in accepted)
    if unknown:
        raise TypeError(f"greedy got unknown argument(s) {', '.join(map(repr, unknown))}; "
                        f"GreedyLR accepts: {', '.join(accepted)}")
    return GreedyLR(optimizer, **kwargs)
