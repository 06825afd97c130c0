"""Per-step cost of a schedule: ``LambdaLR.step()`` with hfopt's step function vs transformers' partial.

Both sides are the same torch ``LambdaLR`` on the same one-parameter SGD; only the step function
differs (hfopt's ``StepFunction``, a ``functools.partial`` over a formula written once for every
framework, against transformers' partial over a plain Python lambda). Informational: the
scheduler step is microseconds next to any optimizer step.
"""
from __future__ import annotations

from benchmarks.common import Row, interleaved_medians

STEPS = 1000
REPEATS = 15
CASES = {
    "cosine": ("get_cosine_schedule_with_warmup", (100, 1000), {}),
    "warmup_stable_decay": ("get_wsd_schedule", (100, 300), {"num_training_steps": 1000}),
}


def run() -> list[Row]:
    """Median time of 1000 ``scheduler.step()`` calls per side, interleaved."""
    import warnings

    import torch

    import hfopt_core

    try:
        from transformers import optimization as tf_opt
    except ImportError:  # transformers is a test/bench-only dependency
        return []
    rows = []
    for name, (function, args, kwargs) in CASES.items():
        def stepper(module):
            def go():
                opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
                sched = getattr(module, function)(opt, *args, **kwargs)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # step without optimizer.step()
                    for _ in range(STEPS):
                        sched.step()
            return go

        med = interleaved_medians({"hfopt": stepper(hfopt_core), "transformers": stepper(tf_opt)}, REPEATS)
        rows.append(Row(f"LambdaLR.step(), {name} (per step)", "hfopt StepFunction", "transformers 4.57.6 partial",
                        med["hfopt"] / STEPS, med["transformers"] / STEPS,
                        note="same LambdaLR; informational"))
    return rows
