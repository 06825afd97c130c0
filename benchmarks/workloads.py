"""The parameter shapes the optimizer benchmarks share, so their rows stay comparable."""
from __future__ import annotations

import torch


def bert_base_shapes() -> list[tuple[int, ...]]:
    """The 199 parameter shapes of BERT-base (uncased) with its pooler: 109.5M parameters."""
    h, ffn = 768, 3072
    shapes = [(30522, h), (512, h), (2, h), (h,), (h,)]          # embeddings + LayerNorm
    for _ in range(12):
        shapes += [(h, h), (h,)] * 4                              # q, k, v, attention output
        shapes += [(h,), (h,)]                                    # LayerNorm
        shapes += [(ffn, h), (ffn,), (h, ffn), (h,)]              # intermediate, output
        shapes += [(h,), (h,)]                                    # LayerNorm
    shapes += [(h, h), (h,)]                                      # pooler
    return shapes


def small_shapes(n: int = 2000, seed: int = 0) -> list[tuple[int, ...]]:
    """``n`` small tensors (16 to 512 elements, every third one 2-D as ``(s // 8, 8)``)."""
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(16, 513, (n,), generator=gen).tolist()
    return [(s,) if i % 3 else (s // 8, 8) for i, s in enumerate(sizes)]


def distinct_matrix_shapes(n: int = 2000, seed: int = 0, low: int = 2, high: int = 48) -> list[tuple[int, int]]:
    """``n`` small 2-D shapes, no two alike: ``(rows, cols)`` drawn without replacement from
    ``[low, high]**2`` (default 2..48 each: 4 to 2304 elements), so nothing stacks by shape."""
    gen = torch.Generator().manual_seed(seed)
    side = high - low + 1
    if n > side * side:
        raise ValueError(f"n={n} exceeds the {side * side} distinct shapes in [{low}, {high}]**2")
    picks = torch.randperm(side * side, generator=gen)[:n].tolist()
    return [(low + k // side, low + k % side) for k in picks]


def parameters_with_grads(shapes, dtype: torch.dtype = torch.float32) -> list[torch.nn.Parameter]:
    """Parameters of ``shapes`` (std 0.02) with gradients set (std 1e-3), drawn in fp32 and stored
    as ``dtype`` (default fp32)."""
    params = [torch.nn.Parameter((torch.randn(s) * 0.02).to(dtype)) for s in shapes]
    for p in params:
        p.grad = (torch.randn(p.shape) * 1e-3).to(dtype)
    return params
