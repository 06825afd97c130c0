"""Reusable scratch memory for the per-parameter (large tensor) path.

transformers allocates about four parameter-sized temporaries per parameter per step; for large
tensors the page faults of those fresh allocations cost more than the arithmetic. The optimizer
instead keeps one flat buffer per (device, dtype), as large as the largest request so far, and
carves views out of it. It is scratch, not optimizer state: never saved, never pickled.
"""
from __future__ import annotations

import math

import torch


class Workspace:
    """Flat scratch buffers, one per ``(device, dtype)``, grown on demand and reused."""

    def __init__(self):
        self._buffers: dict[tuple, torch.Tensor] = {}

    def views(self, shape, count: int, dtype: torch.dtype, device: torch.device) -> list[torch.Tensor]:
        """``count`` non-overlapping uninitialized tensors of ``shape``, valid until the next call.

        Args:
            shape: the shape of each view.
            count: how many views.
            dtype: their dtype.
            device: their device.
        """
        size = math.prod(shape)
        key = (torch.device(device), dtype)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.numel() < size * count:
            self._buffers.pop(key, None)
            buffer = self._buffers[key] = torch.empty(size * count, dtype=dtype, device=device)
        return [buffer[i * size:(i + 1) * size].view(shape) for i in range(count)]

    def nbytes(self) -> int:
        """Bytes currently held."""
        return sum(b.numel() * b.element_size() for b in self._buffers.values())

    def clear(self) -> None:
        """Free every buffer."""
        self._buffers.clear()
