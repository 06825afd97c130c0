"""GreedyLR, the metric-driven schedule of transformers 5.x (PyTorch only): ``get_greedy_schedule``."""
from __future__ import annotations

from .greedy import GreedyLR, StreamingAverage

__all__ = ["GreedyLR", "StreamingAverage", "get_greedy_schedule"]


def get_greedy_schedule(optimizer, **kwargs):
    """A :class:`GreedyLR` for ``optimizer``.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule.
        **kwargs: passed to :class:`GreedyLR` (``mode``, ``factor``, ``patience``, ...).
    """
    return GreedyLR(optimizer, **kwargs)
