"""AdamW step time: hfopt's AdamW (transformers' semantics) against ``torch.optim.AdamW(fused=True)``.

Two workloads, fp32 on the CPU: BERT-base parameter shapes (110M parameters in 199 tensors) and
2000 small tensors. Every optimizer steps the same parameters and gradients (each with its own
state), timed round-robin; the rows give median ratios against torch's fused AdamW. The fused
kernel's floor is its memory traffic, 28 bytes per parameter (read p, g, m, v; write p, m, v):
the note compares the achieved bandwidth with a triad (``c = a + s * b``, 12 bytes per element)
measured in the same run.
"""
from __future__ import annotations

import torch

from benchmarks.common import Row, interleaved_medians, ratio_row

BYTES_PER_PARAM = 28  # fp32: read p, g, m, v (16) + write p, m, v (12)


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
    """``n`` small tensors (16 to 512 elements, some 2-D)."""
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(16, 513, (n,), generator=gen).tolist()
    return [(s,) if i % 3 else (s // 8, 8) for i, s in enumerate(sizes)]


def _parameters(shapes):
    params = [torch.nn.Parameter(torch.randn(s) * 0.02) for s in shapes]
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    return params


def _triad_bandwidth(numel: int = 1 << 25, repeats: int = 7) -> float:
    """Bytes per second of ``c = a + 0.5 * b`` on float32 arrays (12 bytes per element)."""
    a, b, c = torch.rand(numel), torch.rand(numel), torch.empty(numel)
    seconds = interleaved_medians({"triad": lambda: torch.add(a, b, alpha=0.5, out=c)}, repeats)["triad"]
    return 12 * numel / seconds


def _compare(group: str, shapes, max_ratio: float, repeats: int, bandwidth: float | None) -> list[Row]:
    from hfopt_adamw import AdamW

    params = _parameters(shapes)
    numel = sum(p.numel() for p in params)
    kwargs = dict(lr=1e-4, weight_decay=0.01)
    optimizers = {
        "torch AdamW fused": torch.optim.AdamW(params, fused=True, **kwargs),
        "hfopt AdamW (auto: fused)": AdamW(params, **kwargs),
        "hfopt AdamW foreach": AdamW(params, foreach=True, **kwargs),
        "hfopt AdamW for-loop": AdamW(params, foreach=False, **kwargs),
    }
    medians = interleaved_medians({name: opt.step for name, opt in optimizers.items()}, repeats, warmup=1)
    anchor = medians.pop("torch AdamW fused")
    rows = []
    for name, seconds in medians.items():
        note = ""
        if bandwidth is not None and "auto" in name:
            achieved = BYTES_PER_PARAM * numel / seconds
            floor = BYTES_PER_PARAM * numel / bandwidth
            note = (f"{numel / 1e6:.1f}M params: {achieved / 1e9:.1f} GB/s at 28 B/param; triad {bandwidth / 1e9:.1f} "
                    f"GB/s gives a floor of {floor * 1e3:.0f} ms = {floor / seconds:.0%} of this time")
        rows.append(ratio_row(group, name, "torch AdamW fused", seconds, anchor,
                              max_ratio if "auto" in name else None, note=note))
    return rows


def run() -> list[Row]:
    """BERT-base shapes and 2000 small tensors, fp32, CPU."""
    torch.manual_seed(0)
    bandwidth = _triad_bandwidth()
    rows = _compare("AdamW step, BERT-base shapes (199 tensors), fp32", bert_base_shapes(), 1.10,
                    repeats=7, bandwidth=bandwidth)
    rows += _compare("AdamW step, 2000 small tensors, fp32", small_shapes(), 1.25, repeats=41, bandwidth=None)
    return rows
