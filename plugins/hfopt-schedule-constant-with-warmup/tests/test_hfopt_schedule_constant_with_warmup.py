"""Tests of hfopt-schedule-constant-with-warmup: expectations from its documented formula, written here.

Never from the plugin's code. Run alone: pytest plugins/hfopt-schedule-constant-with-warmup
"""

import re
from pathlib import Path

import pytest

from hfopt_core.testing import check_plugin, check_schedule_closed_form, run_readme_examples
from hfopt_schedule_constant_with_warmup import get_constant_schedule_with_warmup


def closed_form(step, num_warmup_steps):
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    return 1.0


def test_the_schedule_follows_its_closed_form():
    check_schedule_closed_form("constant_with_warmup", closed_form, [{}],
                               factory=get_constant_schedule_with_warmup, num_training_steps=None,
                               steps=[0, 1, 3, 4, 5, 100], torch_case={}, torch_steps=8)


def test_invalid_arguments_are_named_before_anything_is_built():
    message = 'num_warmup_steps must be a non-negative number of steps, got -1'
    with pytest.raises(ValueError, match=re.escape(message)):
        get_constant_schedule_with_warmup(None, num_warmup_steps=-1)


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_constant_with_warmup.plugin",
                         distribution="hfopt-schedule-constant-with-warmup")
    assert [s.name for s in specs] == ["constant_with_warmup"]


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
