"""Adafactor: step time against transformers' Adafactor, and optimizer-state memory against AdamW.

Timing rows: fp32 on the CPU, the same parameters and gradients stepped by each optimizer (each
with its own state), round-robin (:func:`interleaved_medians`), default options (relative step,
parameter scaling, no first moment). Workloads as in the AdamW benchmark: BERT-base parameter
shapes (109.5M parameters in 199 tensors) and 2000 small tensors (16 to 512 elements, a third of
them 2-D). transformers is a bench-only dependency.

Memory rows: bytes of optimizer state after one step on BERT-base shapes, hfopt Adafactor
(defaults: factored second moment, no first moment) against ``torch.optim.AdamW`` (exp_avg and
exp_avg_sq per parameter), for the matrices alone (the factored ones) and for everything.
"""
from __future__ import annotations

import torch

from benchmarks.common import Row, interleaved_medians, ratio_row
from benchmarks.workloads import bert_base_shapes, parameters_with_grads, small_shapes


def _compare(group: str, shapes, max_ratio: float, repeats: int) -> list[Row]:
    from transformers.optimization import Adafactor as TransformersAdafactor

    from hfopt_adafactor import Adafactor

    params = parameters_with_grads(shapes)
    optimizers = {
        "transformers Adafactor": TransformersAdafactor(params),
        "hfopt Adafactor": Adafactor(params),
        "hfopt Adafactor foreach=False": Adafactor(params, foreach=False),
    }
    medians = interleaved_medians({name: opt.step for name, opt in optimizers.items()}, repeats, warmup=1)
    anchor = medians.pop("transformers Adafactor")
    return [ratio_row(group, name, "transformers 4.57.6 Adafactor", seconds, anchor,
                      max_ratio if name == "hfopt Adafactor" else None,
                      note="bit-identical results" if name == "hfopt Adafactor" else "one parameter at a time")
            for name, seconds in medians.items()]


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
    """BERT-base shapes and 2000 small tensors (fp32, CPU), then the state-memory rows."""
    torch.manual_seed(0)
    rows = _compare("Adafactor step, BERT-base shapes (199 tensors), fp32", bert_base_shapes(), 0.60, repeats=5)
    rows += _compare("Adafactor step, 2000 small tensors, fp32", small_shapes(), 0.20, repeats=21)
    rows += _memory()
    return rows
