"""Tests of hfopt-schedule-cosine-with-min-lr: expectations from its documented formula, written here.

Never from the plugin's code. Run alone: pytest plugins/hfopt-schedule-cosine-with-min-lr
"""

import math
import re
from pathlib import Path

import pytest

from hfopt_core.testing import check_plugin, check_schedule_closed_form, run_readme_examples
from hfopt_schedule_cosine_with_min_lr import get_cosine_with_min_lr_schedule_with_warmup


def closed_form(step, num_warmup_steps, num_training_steps, min_lr_rate, num_cycles=0.5):
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    progress = (step - num_warmup_steps) / max(1, num_training_steps - num_warmup_steps)
    factor = 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress))
    return max(0.0, factor * (1.0 - min_lr_rate) + min_lr_rate)


def test_the_schedule_follows_its_closed_form():
    check_schedule_closed_form("cosine_with_min_lr", closed_form,
                               [{'min_lr_rate': 0.1}, {'min_lr_rate': 0.0, 'num_cycles': 1.0}],
                               factory=get_cosine_with_min_lr_schedule_with_warmup,
                               steps=[0, 2, 4, 5, 9, 12, 19, 20],
                               torch_case=({"min_lr": 0.05}, {"min_lr_rate": 0.1}), torch_steps=22)


def test_invalid_arguments_are_named_before_anything_is_built():
    with pytest.raises(ValueError, match=re.escape('Only one of min_lr or min_lr_rate should be set')):
        get_cosine_with_min_lr_schedule_with_warmup(None, 1, 10, min_lr=0.1, min_lr_rate=0.1)


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_cosine_with_min_lr.plugin",
                         distribution="hfopt-schedule-cosine-with-min-lr",
                         schedule_kwargs={'cosine_with_min_lr': {'min_lr_rate': 0.1}})
    assert [s.name for s in specs] == ["cosine_with_min_lr"]


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
