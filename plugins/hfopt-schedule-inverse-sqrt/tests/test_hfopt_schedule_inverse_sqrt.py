"""Tests of hfopt-schedule-inverse-sqrt: expectations from its documented formula, written here.

Never from the plugin's code. Run alone: pytest plugins/hfopt-schedule-inverse-sqrt
"""

import math
import re
from pathlib import Path

import pytest

from hfopt_core.testing import check_plugin, check_schedule_closed_form, run_readme_examples
from hfopt_schedule_inverse_sqrt import get_inverse_sqrt_schedule


def closed_form(step, num_warmup_steps, timescale=None):
    if timescale is None:
        timescale = num_warmup_steps or 10_000
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    return 1.0 / math.sqrt((step + timescale - num_warmup_steps) / timescale)


def test_the_schedule_follows_its_closed_form():
    check_schedule_closed_form("inverse_sqrt", closed_form, [{}, {'timescale': 50}],
                               factory=get_inverse_sqrt_schedule, num_training_steps=None,
                               steps=[0, 2, 4, 5, 9, 20, 1000], torch_case={"timescale": 3}, torch_steps=12)


def test_invalid_arguments_are_named_before_anything_is_built():
    with pytest.raises(ValueError, match=re.escape('timescale must be a positive number of steps, got 0')):
        get_inverse_sqrt_schedule(None, num_warmup_steps=4, timescale=0)


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_inverse_sqrt.plugin", distribution="hfopt-schedule-inverse-sqrt")
    assert [s.name for s in specs] == ["inverse_sqrt"]


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
