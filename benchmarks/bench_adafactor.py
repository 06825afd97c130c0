"""Adafactor: step time against torch's fused AdamW and transformers' Adafactor, and state memory.

Timing rows: on the CPU, the same parameters and gradients stepped by each optimizer (each with
its own state), round-robin in one loop (:func:`interleaved_medians`), Adafactor with its default
options (relative step, parameter scaling, no first moment). Workloads: BERT-base parameter
shapes (109.5M parameters in 199 tensors) and 2000 small 2-D tensors of distinct shapes (2..48 x
2..48, so nothing stacks), each in fp32 and in bf16 (parameters and gradients), and 2000 small
tensors (16 to 512 elements, a third of them 2-D; as in the AdamW bench) in fp32. Each workload's
rows come from one interleaved run of ``torch.optim.AdamW(fused=True)`` in the same dtype (the
anchor of the ``fused=True`` targets), transformers' Adafactor (the anchor of the default path,
which is bit-identical to it) and hfopt's Adafactor (default, ``foreach=False``, ``fused=True``:
the ``hfopt_adafactor::fused_step_`` op built at install time, nothing compiled here). Targets are
DESIGN.md's Bars. transformers is a bench-only dependency. The note of each workload gives the
1-minute load average when it was measured.

Memory rows: bytes of optimizer state after one step on BERT-base shapes, hfopt Adafactor
(defaults: factored second moment, no first moment) against ``torch.optim.AdamW`` (exp_avg and
exp_avg_sq per parameter), for the matrices alone (the factored ones) and for everything.
"""
from __future__ import annotations

import torch

from benchmarks.common import Row, interleaved_medians, ratio_row
from benchmarks.workloads import bert_base_shapes, distinct_matrix_shapes, parameters_with_grads, small_shapes


def _compare(group: str, shapes, targets: dict, repeats: int, warmup: int = 2,
             dtype: torch.dtype = torch.float32) -> list[Row]:
    """One interleaved run of every optimizer on ``shapes`` in ``dtype``; ``targets``: name -> max ratio."""
    import os

    from transformers.optimization import Adafactor as TransformersAdafactor

    from hfopt_adafactor import Adafactor

    params = parameters_with_grads(shapes, dtype)
    optimizers = {
        "torch AdamW fused": torch.optim.AdamW(params, lr=1e-4, fused=True),
        "transformers Adafactor": TransformersAdafactor(params),
        "hfopt Adafactor": Adafactor(params),
        "hfopt Adafactor foreach=False": Adafactor(params, foreach=False),
        "hfopt Adafactor fused=True": Adafactor(params, fused=True),
    }
    medians = interleaved_medians({name: opt.step for name, opt in optimizers.items()}, repeats, warmup=warmup)
    load = os.getloadavg()[0]
    adamw, upstream = medians.pop("torch AdamW fused"), medians.pop("transformers Adafactor")
    rows = [ratio_row(group, "transformers Adafactor", "torch AdamW fused", upstream, adamw,
                      note=f"{len(params)} tensors, {sum(p.numel() for p in params) / 1e6:.2f}M params; "
                           f"1-min load average {load:.1f} on {os.cpu_count()} cores")]
    notes = {"hfopt Adafactor": "bit-identical to transformers",
             "hfopt Adafactor foreach=False": "one parameter at a time, bit-identical",
             "hfopt Adafactor fused=True": "compiled op, within ~1e-7 relative per step (fp32 math)"}
    for name, seconds in medians.items():
        anchor_name, anchor = (("torch AdamW fused", adamw) if "fused=True" in name
                               else ("transformers 4.57.6 Adafactor", upstream))
        rows.append(ratio_row(group, name, anchor_name, seconds, anchor, targets.get(name), note=notes[name]))
        if "fused=True" not in name:
            rows.append(ratio_row(group, name, "torch AdamW fused", seconds, adamw))
    return rows


def _state_bytes(optimizer, params) -> int:
    return sum(v.numel() * v.element_size() for p in params for v in optimizer.state[p].values()
               if isinstance(v, torch.Tensor))


def _memory() -> list[Row]:
    from hfopt_adafactor import Adafactor

    params = parameters_with_grads(bert_base_shapes())
    adafactor, adamw = Adafactor(params), torch.optim.AdamW(params, lr=1e-4, foreach=False)
    adafactor.step()
    adamw.step()
    matrices = [p for p in params if p.dim() >= 2]
    group = "Optimizer state, BERT-base shapes, fp32"
    rows = []
    for label, subset, target in ((f"the {len(matrices)} matrices (factored)", matrices, 0.01),
                                  (f"all {len(params)} tensors", params, None)):
        ours, theirs = _state_bytes(adafactor, subset), _state_bytes(adamw, subset)
        row = Row(group, f"hfopt Adafactor, {label}", "torch AdamW state", ours, theirs,
                  "< 1.00% of AdamW" if target else "", None if target is None else ours / theirs < target,
                  unit="B", note=f"{ours / theirs:.3%} of AdamW's bytes")
        rows.append(row)
    rows[-1].note += (f"; plus {adafactor._workspace.nbytes():,} B of reusable scratch (the largest "
                      f"parameter in fp32, not state, never saved)")
    return rows


def run() -> list[Row]:
    """BERT-base shapes and 2000 distinct small matrices in fp32 and bf16, 2000 small tensors in
    fp32 (CPU), then the state-memory rows."""
    torch.manual_seed(0)
    fused = "hfopt Adafactor fused=True"
    bf16 = torch.bfloat16
    rows = _compare("Adafactor step, BERT-base shapes (199 tensors), fp32", bert_base_shapes(),
                    {"hfopt Adafactor": 0.60, fused: 1.00}, repeats=7, warmup=3)
    rows += _compare("Adafactor step, 2000 small tensors, fp32", small_shapes(),
                     {"hfopt Adafactor": 0.20, fused: 2.00}, repeats=21)
    rows += _compare("Adafactor step, 2000 small 2-D tensors of distinct shapes, fp32", distinct_matrix_shapes(),
                     {fused: 2.00}, repeats=21)
    rows += _compare("Adafactor step, BERT-base shapes (199 tensors), bf16", bert_base_shapes(),
                     {fused: 1.00}, repeats=5, warmup=2, dtype=bf16)
    rows += _compare("Adafactor step, 2000 small 2-D tensors of distinct shapes, bf16", distinct_matrix_shapes(),
                     {fused: 2.00}, repeats=21, dtype=bf16)
    rows += _memory()
    return rows
