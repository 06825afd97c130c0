"""Bad inputs of the class-path scheduler and of ``hfopt simulate``'s functions: clear errors, nothing changed.

The cases are the rows of docs/invalid-inputs.md (see tests/invalid_cases.py).
"""
from __future__ import annotations

import torch

from hfopt_core._simulate import count_updates, parse_group_lrs, simulate
from hfopt_core.torch import Scheduler
from invalid_cases import Case, check_case, parametrize


def sgd():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)


def load_other_horizon():
    saved = Scheduler(sgd(), "linear", num_warmup_steps=2, num_training_steps=10).state_dict()
    Scheduler(sgd(), "linear", num_warmup_steps=2, num_training_steps=20).load_state_dict(saved)


INVALID_CASES = [
    Case("hfopt_core.torch.Scheduler", "optimizer", "None", TypeError,
         r"optimizer must be a torch.optim.Optimizer, got NoneType", lambda: Scheduler(None, "cosine", 2, 8)),
    Case("hfopt_core.torch.Scheduler", "spec", "'cosinus'", ValueError, r"'cosinus'.*cosine",
         lambda: Scheduler(sgd(), "cosinus", 2, 8)),
    Case("hfopt_core.torch.Scheduler", "num_warmup_steps", "None", ValueError, r"requires `num_warmup_steps`",
         lambda: Scheduler(sgd(), "cosine", None, 8)),
    Case("Scheduler.load_state_dict", "state_dict", "{'x': 1}", TypeError,
         r"state_dict must be a mapping saved by Scheduler.state_dict\(\), got dict with keys \['x'\]",
         lambda: Scheduler(sgd(), "cosine", 2, 8).load_state_dict({"x": 1})),
    Case("Scheduler.load_state_dict", "num_training_steps", "saved 10, now 20", ValueError,
         r"num_training_steps: saved 10, now 20", load_other_horizon),
    Case("hfopt simulate: count_updates", "epochs", "0", ValueError, r"epochs must be a positive number, got 0",
         lambda: count_updates(0, 10, 1)),
    Case("hfopt simulate: count_updates", "batches", "2.5", ValueError,
         r"batches must be a positive integer, got 2.5", lambda: count_updates(1, 2.5, 1)),
    Case("hfopt simulate: count_updates", "grad_accum", "0", ValueError,
         r"grad_accum must be a positive integer, got 0", lambda: count_updates(1, 10, 0)),
    Case("hfopt simulate: --group-lr", "group_lr", "'1e-3,-1'", ValueError,
         r"--group-lr must be comma-separated positive numbers, got '1e-3,-1' \('-1'\)",
         lambda: parse_group_lrs("1e-3,-1")),
    Case("hfopt simulate: simulate", "updates", "0", ValueError,
         r"number of updates \(--steps\) must be a positive integer, got 0", lambda: simulate("cosine", 0, warmup=2)),
    Case("hfopt simulate: simulate", "group_lrs", "(0.1, nan)", ValueError,
         r"group_lrs must be positive numbers, got \(0.1, nan\)",
         lambda: simulate("cosine", 10, warmup=2, group_lrs=(0.1, float("nan")))),
]


@parametrize(INVALID_CASES)
def test_invalid_input_is_refused(case):
    check_case(case)


def test_a_refused_state_changes_nothing():
    opt = sgd()
    scheduler = Scheduler(opt, "linear", num_warmup_steps=2, num_training_steps=20)
    saved = Scheduler(sgd(), "linear", num_warmup_steps=2, num_training_steps=10).state_dict()
    before = (scheduler.last_epoch, scheduler.get_last_lr(), opt.param_groups[0]["lr"])
    try:
        scheduler.load_state_dict(saved)
    except ValueError:
        pass
    assert (scheduler.last_epoch, scheduler.get_last_lr(), opt.param_groups[0]["lr"]) == before
