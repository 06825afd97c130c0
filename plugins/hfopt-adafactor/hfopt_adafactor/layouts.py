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

    def rms(self, x: torch.Tensor) -> torch.Tensor:
        """``||x||_2 / sqrt(numel)``, 0-dim."""
        return x.norm(2) / (x.numel() ** 0.5)

    def expand(self, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Per-parameter values broadcastable against ``like``."""
        return values

    def pieces(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x`` split back into per-parameter tensors."""
        return [x]


class Stacked:
    """``count`` same-shape parameters as ``[count, *shape]``: per-parameter values are ``[count]``.

    Args:
        count: the number of parameters.
        numel: elements per parameter.
    """

    def __init__(self, count: int, numel: int):
        self.count, self.numel = count, numel

    def rms(self, x: torch.Tensor) -> torch.Tensor:
        """RMS of each parameter, ``[count]``."""
        return x.flatten(1).norm(2, dim=1) / (self.numel ** 0.5)

    def expand(self, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``[count]`` viewed as ``[count, 1, ...]``."""
        return values.view((-1,) + (1,) * (like.dim() - 1))

    def pieces(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The ``count`` parameter-shaped slices."""
        return list(x.unbind(0))


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

    def rms(self, x: torch.Tensor) -> torch.Tensor:
        """RMS of each parameter's segment, ``[count]``."""
        return torch.stack(torch._foreach_norm(x.split(self.sizes))) / self._sqrt_numel

    def expand(self, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``[count]`` repeated over each parameter's segment: ``[total]``."""
        return values.index_select(0, self._segment)

    def pieces(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The per-parameter segments (flat)."""
        return list(x.split(self.sizes))
