"""AdamW step time: hfopt's AdamW (transformers' semantics) against ``torch.optim.AdamW(fused=True)``.

Two workloads, fp32 on the CPU: BERT-base parameter shapes (110M parameters in 199 tensors) and
2000 small tensors. Every optimizer steps the same parameters and gradients (each with its own
state), timed round-robin; the rows give median ratios against torch's fused AdamW. The fused
kernel's floor is its memory traffic, 28 bytes per parameter (read p, g, m, v; write p, m, v):
the note compares the achieved bandwidth with an in-place streaming op on the same memory
(``m += 0 * g * v``, 16 bytes per element) timed in the same interleaved loop.
"""
from __future__ import annotations

import torch

from benchmarks.common import Row, interleaved_medians, ratio_row
from benchmarks.workloads import bert_base_shapes, parameters_with_grads, small_shapes

BYTES_PER_PARAM = 28  # fp32: read p, g, m, v (16) + write p, m, v (12)


def _compare(group: str, shapes, max_ratio: float, repeats: int, warmup: int, floor_note: bool) -> list[Row]:
    from hfopt_adamw import AdamW

    params = parameters_with_grads(shapes)
    numel = sum(p.numel() for p in params)
    kwargs = dict(lr=1e-4, weight_decay=0.01)
    anchor_opt = torch.optim.AdamW(params, fused=True, **kwargs)
    optimizers = {
        "torch AdamW fused": anchor_opt,
        "hfopt AdamW (auto: fused)": AdamW(params, **kwargs),
        "hfopt AdamW foreach": AdamW(params, foreach=True, **kwargs),
        "hfopt AdamW for-loop": AdamW(params, foreach=False, **kwargs),
    }
    fns = {name: opt.step for name, opt in optimizers.items()}
    if floor_note:
        anchor_opt.step()
        m = [anchor_opt.state[p]["exp_avg"] for p in params]
        v = [anchor_opt.state[p]["exp_avg_sq"] for p in params]
        g = [p.grad for p in params]
        # the machine's streaming bandwidth on the same memory: m += 0 * g * v reads 3 arrays and
        # writes 1 in place (16 bytes per element, no write-allocate), leaving m unchanged
        fns["stream"] = lambda: torch._foreach_addcmul_(m, g, v, value=0.0)
    medians = interleaved_medians(fns, repeats, warmup=warmup)
    anchor = medians.pop("torch AdamW fused")
    stream = medians.pop("stream", None)
    rows = []
    for name, seconds in medians.items():
        note = ""
        if stream is not None and "auto" in name:
            achieved = BYTES_PER_PARAM * numel / seconds
            bandwidth = 16 * numel / stream
            floor = BYTES_PER_PARAM * numel / bandwidth
            note = (f"{numel / 1e6:.1f}M params: {achieved / 1e9:.1f} GB/s at 28 B/param = {achieved / bandwidth:.0%} "
                    f"of in-place streaming on the same memory (m += 0*g*v, {bandwidth / 1e9:.1f} GB/s); "
                    f"28 B/param floor at that bandwidth: {floor * 1e3:.0f} ms")
        rows.append(ratio_row(group, name, "torch AdamW fused", seconds, anchor,
                              max_ratio if "auto" in name else None, note=note))
    return rows


def run() -> list[Row]:
    """BERT-base shapes and 2000 small tensors, fp32, CPU."""
    torch.manual_seed(0)
    # 3 warm-up rounds: the first touches of 3 GB of fresh state are slow on this VM
    rows = _compare("AdamW step, BERT-base shapes (199 tensors), fp32", bert_base_shapes(), 1.10,
                    repeats=7, warmup=3, floor_note=True)
    rows += _compare("AdamW step, 2000 small tensors, fp32", small_shapes(), 1.25, repeats=41, warmup=3,
                     floor_note=False)
    return rows
