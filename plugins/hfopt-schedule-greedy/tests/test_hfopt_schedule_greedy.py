"""Tests of hfopt-schedule-greedy, runnable alone:

    pytest plugins/hfopt-schedule-greedy

The expected learning rates are worked out by hand from the documented rule (GreedyLR of
transformers 5.x): more than ``patience`` improvements in a row divide the lr by ``factor`` (capped
at ``max_lr``), more than ``patience`` evaluations without one multiply it by ``factor`` (floored at
``min_lr``). The cross-cutting tests of GreedyLR live in tests/plugins/hfopt-schedule-greedy.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from hfopt_core import FrameworkError, get_scheduler
from hfopt_core.testing import check_plugin, run_readme_examples

README = Path(__file__).resolve().parents[1] / "README.md"
KWARGS = {"patience": 1, "factor": 0.5, "min_lr": 0.25, "max_lr": 4.0}
#           improving: up after 2 in a row      flat: down after 2 in a row, floored at min_lr
METRICS = [1.0, 0.9, 0.8, 0.7, 0.6] + [0.6] * 10
EXPECTED = [1, 2, 2, 4, 4] + [4, 2, 2, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.25]


def test_the_lr_follows_the_documented_rule():
    torch = pytest.importorskip("torch")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_scheduler("greedy", optimizer, scheduler_specific_kwargs=KWARGS)
    lrs = []
    for metric in METRICS:
        scheduler.step(metric)
        lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs == EXPECTED
    state = scheduler.state_dict()
    scheduler.step(math.nan)  # a NaN evaluation is ignored, not counted
    assert scheduler.state_dict() == state


def test_it_is_pytorch_only():
    with pytest.raises(FrameworkError):
        get_scheduler("greedy", None)


def test_invalid_arguments_are_named_before_anything_is_built():
    torch = pytest.importorskip("torch")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match=re.escape("patience must be a non-negative count, got -1")):
        get_scheduler("greedy", optimizer, scheduler_specific_kwargs={"patience": -1})
    assert optimizer.param_groups[0]["lr"] == 1.0


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_greedy.plugin", distribution="hfopt-schedule-greedy")
    assert [s.name for s in specs] == ["greedy"]


def test_the_readme_example_runs():
    pytest.importorskip("torch")
    run_readme_examples(README)
