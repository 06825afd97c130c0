"""Tests of hfopt-schedule-polynomial: expectations from its documented formula, written here.

Never from the plugin's code. Run alone: pytest plugins/hfopt-schedule-polynomial
"""

import re
from pathlib import Path

import pytest

from hfopt_core.testing import check_plugin, check_schedule_closed_form, run_readme_examples
from hfopt_schedule_polynomial import get_polynomial_decay_schedule_with_warmup


def closed_form(step, num_warmup_steps, num_training_steps, lr_init, lr_end=1e-7, power=1.0):
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    if step > num_training_steps:
        return lr_end / lr_init
    remaining = 1 - (step - num_warmup_steps) / (num_training_steps - num_warmup_steps)
    return ((lr_init - lr_end) * remaining ** power + lr_end) / lr_init


def test_the_schedule_follows_its_closed_form():
    # torch: lr_init is the optimizer's lr
    check_schedule_closed_form("polynomial", closed_form,
                               [{'lr_init': 0.5}, {'lr_init': 0.5, 'power': 2.0, 'lr_end': 0.0001}],
                               factory=get_polynomial_decay_schedule_with_warmup,
                               steps=[0, 2, 4, 5, 9, 12, 19, 20, 30],
                               torch_case=({"power": 3.0, "lr_end": 0.01},
                                           {"lr_init": 0.5, "power": 3.0, "lr_end": 0.01}),
                               torch_steps=24)


def test_invalid_arguments_are_named_before_anything_is_built():
    with pytest.raises(ValueError, match=re.escape('lr_end (1.0) must be smaller than initial lr (0.5)')):
        get_polynomial_decay_schedule_with_warmup(None, 1, 10, lr_end=1.0, lr_init=0.5)


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_polynomial.plugin",
                         distribution="hfopt-schedule-polynomial",
                         schedule_kwargs={'polynomial': {'lr_init': 1.0}})
    assert [s.name for s in specs] == ["polynomial"]


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
