"""Tests of hfopt-schedule-reduce-lr-on-plateau, runnable alone:

    pytest plugins/hfopt-schedule-reduce-lr-on-plateau

The expectation is torch's own ``ReduceLROnPlateau`` driven by the same metrics.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from hfopt_core import FrameworkError, get_scheduler
from hfopt_core.testing import check_plugin, run_readme_examples
from hfopt_schedule_reduce_lr_on_plateau import get_reduce_on_plateau_schedule

README = Path(__file__).resolve().parents[1] / "README.md"
METRICS = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]


def optimizer(torch, lr=1.0):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


@pytest.mark.parametrize("kwargs", [{}, {"patience": 1, "factor": 0.5}, {"mode": "max", "patience": 0,
                                                                         "threshold_mode": "abs", "cooldown": 1}])
def test_it_is_torchs_reduce_on_plateau_step_for_step(kwargs):
    torch = pytest.importorskip("torch")
    ours = get_scheduler("reduce_lr_on_plateau", optimizer(torch), scheduler_specific_kwargs=kwargs)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer(torch), **kwargs)
    assert type(ours) is torch.optim.lr_scheduler.ReduceLROnPlateau
    for metric in METRICS:
        ours.step(metric)
        reference.step(metric)
        assert ours.optimizer.param_groups[0]["lr"] == reference.optimizer.param_groups[0]["lr"]
    assert ours.state_dict() == reference.state_dict()


def test_it_is_pytorch_only():
    with pytest.raises(FrameworkError, match="reduce_lr_on_plateau is PyTorch only"):
        get_reduce_on_plateau_schedule(None)


def test_invalid_arguments_are_named_before_anything_is_built():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match=re.escape("factor must be in (0, 1), got 1.5")):
        get_reduce_on_plateau_schedule(optimizer(torch), factor=1.5)
    with pytest.raises(TypeError, match="reduce_lr_on_plateau got unknown argument\\(s\\) 'patiense'"):
        get_reduce_on_plateau_schedule(optimizer(torch), patiense=3)


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_reduce_lr_on_plateau.plugin",
                         distribution="hfopt-schedule-reduce-lr-on-plateau")
    assert [s.name for s in specs] == ["reduce_lr_on_plateau"]


def test_the_readme_example_runs():
    pytest.importorskip("torch")
    run_readme_examples(README)
