"""Tests of hfopt-schedule-linear: expectations from its documented formula, written here.

Never from the plugin's code. Run alone: pytest plugins/hfopt-schedule-linear
"""

import re
from pathlib import Path

import pytest

from hfopt_core.testing import check_plugin, check_schedule_closed_form, run_readme_examples
from hfopt_schedule_linear import get_linear_schedule_with_warmup


def closed_form(step, num_warmup_steps, num_training_steps):
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    return max(0.0, (num_training_steps - step) / max(1, num_training_steps - num_warmup_steps))


def test_the_schedule_follows_its_closed_form():
    check_schedule_closed_form("linear", closed_form, [{}], factory=get_linear_schedule_with_warmup,
                               steps=[0, 1, 3, 4, 5, 12, 20, 25], torch_case={}, torch_steps=22)


def test_invalid_arguments_are_named_before_anything_is_built():
    message = "num_training_steps must be a real number (number of steps), got str '100'"
    with pytest.raises(TypeError, match=re.escape(message)):
        get_linear_schedule_with_warmup(None, num_warmup_steps=1, num_training_steps='100')


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_linear.plugin", distribution="hfopt-schedule-linear")
    assert [s.name for s in specs] == ["linear"]


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
