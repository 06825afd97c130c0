"""How a batch of parameters is laid out for the kernel, and its per-parameter reductions.

* :class:`Single` - one parameter in its own shape (updated in place).
* :class:`Stacked` - ``B`` same-shape parameters stacked along a new leading dimension.
* :class:`Packed` - parameters of any shapes flattened and concatenated (non-factored only:
  their update is elementwise apart from the per-parameter RMS).

In every layout each parameter's data stays contiguous and in its own order, so torch's
elementwise kernels and per-parameter reductions round exactly as on the lone parameter.
"""
from __future__ import annotations

import torch


class Single:
    """One parameter: per-parameter values are 0-dim tensors."""

    count = 1

    def scalars(self, values: torch.Tensor) -> list[torch.Tensor]:
        """Per-parameter values as a list of 0-dim tensors."""
        return [values]

    def rms(self, x: torch.Tensor) -> torch.Tensor:
        """``||x||_2 / sqrt(numel)``, 0-dim."""
        return x.norm(2) / (x.numel() ** 0.5)

    def expand(self, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Per-parameter values broadcastable against ``like``."""
        return values

    def pieces(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x`` split back into per-parameter tensors."""
        return [x]

    def release(self) -> None:
        """Nothing to forget."""


class Stacked:
    """``count`` same-shape parameters as ``[count, *shape]``: per-parameter values are ``[count]``.

    Args:
        count: the number of parameters.
        numel: elements per parameter.
    """

    def __init__(self, count: int, numel: int):
        self.count, self.numel = count, numel

    def rms(self, x: torch.Tensor) -> torch.Tensor:
        """RMS of each parameter, ``[count, 1, ...]`` (broadcasts over ``x``)."""
        return torch.linalg.vector_norm(x, 2, dim=tuple(range(1, x.dim())), keepdim=True) / (self.numel ** 0.5)

    def expand(self, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Per-parameter values (already ``[count, 1, ...]``)."""
        return values

    def scalars(self, values: torch.Tensor) -> list[torch.Tensor]:
        """Per-parameter values as a list of 0-dim tensors."""
        return list(values.view(-1).unbind(0))

    def views(self, stacked: torch.Tensor, shapes) -> list[torch.Tensor]:
        """The per-parameter slices of ``stacked``."""
        return list(stacked.unbind(0))

    def pieces(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The ``count`` parameter-shaped slices."""
        return list(x.unbind(0))

    def release(self) -> None:
        """Nothing to forget."""


class Packed:
    """Parameters flattened and concatenated: per-parameter values are ``[count]``.

    Args:
        sizes: elements of each parameter, in order.
        device: where the index tensors live.
        dtype: the compute dtype.
    """

    def __init__(self, sizes: list[int], device, dtype):
        self.sizes, self.count, self.total = sizes, len(sizes), sum(sizes)
        self._sqrt_numel = torch.tensor([n ** 0.5 for n in sizes], dtype=dtype, device=device)
        repeats = torch.tensor(sizes, device=device)
        self._segment = torch.repeat_interleave(torch.arange(len(sizes), device=device), repeats,
                                                output_size=self.total)
        self._memo = None

    def rms(self, x: torch.Tensor) -> torch.Tensor:
        """RMS of each parameter's segment, ``[count]``."""
        return torch.stack(torch._foreach_norm(self.pieces(x))) / self._sqrt_numel

    def expand(self, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``[count]`` repeated over each parameter's segment: ``[total]`` (0-dim stays 0-dim)."""
        return values if values.dim() == 0 else values.index_select(0, self._segment)

    def pieces(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The per-parameter segments (flat); the split of the last tensor asked for is reused."""
        memo = self._memo
        if memo is not None and memo[0] is x:
            return memo[1]
        pieces = list(x.split(self.sizes))
        self._memo = (x, pieces)
        return pieces

    def release(self) -> None:
        """Forget the remembered split (call when the batch is done)."""
        self._memo = None

    def scalars(self, values: torch.Tensor) -> list[torch.Tensor]:
        """Per-parameter values as a list of 0-dim tensors."""
        return list(values.unbind(0))

    def views(self, flat: torch.Tensor, shapes) -> list[torch.Tensor]:
        """The per-parameter segments of ``flat``, shaped as ``shapes``."""
        return [seg if len(shape) == 1 else seg.view(shape) for seg, shape in zip(flat.split(self.sizes), shapes)]
