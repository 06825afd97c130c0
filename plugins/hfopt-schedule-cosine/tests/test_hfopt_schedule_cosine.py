"""Tests of hfopt-schedule-cosine: expectations from its documented formula, written here.

Never from the plugin's code. Run alone: pytest plugins/hfopt-schedule-cosine
"""

import math
import re
from pathlib import Path

import pytest

from hfopt_core import get_scheduler
from hfopt_core.testing import check_plugin, check_schedule_closed_form, run_readme_examples
from hfopt_schedule_cosine import get_cosine_schedule_with_warmup


def closed_form(step, num_warmup_steps, num_training_steps, num_cycles=0.5):
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    progress = (step - num_warmup_steps) / max(1, num_training_steps - num_warmup_steps)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress)))


def test_the_schedule_follows_its_closed_form():
    check_schedule_closed_form("cosine", closed_form, [{}, {'num_cycles': 0.5}, {'num_cycles': 2}],
                               factory=get_cosine_schedule_with_warmup,
                               steps=[0, 2, 4, 5, 9, 12, 19, 20, 30], torch_case={"num_cycles": 1.5},
                               torch_steps=22)


def test_invalid_arguments_are_named_before_anything_is_built():
    with pytest.raises(ValueError, match=re.escape('num_cycles must be a non-negative number, got -1.0')):
        get_scheduler('cosine', None, 1, 10, scheduler_specific_kwargs={'num_cycles': -1.0})


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_cosine.plugin", distribution="hfopt-schedule-cosine")
    assert [s.name for s in specs] == ["cosine"]


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
