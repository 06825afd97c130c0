"""Tests of hfopt-schedule-constant: expectations from its documented formula, written here.

Never from the plugin's code. Run alone: pytest plugins/hfopt-schedule-constant
"""

import re
from pathlib import Path

import pytest

from hfopt_core.testing import check_plugin, check_schedule_closed_form, run_readme_examples
from hfopt_schedule_constant import get_constant_schedule


def closed_form(step):
    return 1.0


def test_the_schedule_follows_its_closed_form():
    check_schedule_closed_form("constant", closed_form, [{}], factory=get_constant_schedule,
                               num_warmup_steps=None, num_training_steps=None, steps=[0, 1, 5, 1000],
                               torch_case={}, torch_steps=5)


def test_invalid_arguments_are_named_before_anything_is_built():
    with pytest.raises(ValueError, match=re.escape('last_epoch must be a >= -1 step index, got -2')):
        get_constant_schedule(None, last_epoch=-2)


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_constant.plugin", distribution="hfopt-schedule-constant")
    assert [s.name for s in specs] == ["constant"]


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
