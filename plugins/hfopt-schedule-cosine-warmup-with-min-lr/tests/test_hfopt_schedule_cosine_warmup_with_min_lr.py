"""Tests of hfopt-schedule-cosine-warmup-with-min-lr: expectations from its documented formula, written here.

Never from the plugin's code. Run alone: pytest plugins/hfopt-schedule-cosine-warmup-with-min-lr
"""

import math
import re
from pathlib import Path

import pytest

from hfopt_core import get_scheduler
from hfopt_core.testing import check_plugin, check_schedule_closed_form, run_readme_examples
from hfopt_schedule_cosine_warmup_with_min_lr import get_cosine_with_min_lr_schedule_with_warmup_lr_rate


def closed_form(step, num_warmup_steps, num_training_steps, min_lr_rate, warmup_lr_rate=None, num_cycles=0.5):
    if step < num_warmup_steps:
        if warmup_lr_rate is None:
            return (step + 1) / max(1, num_warmup_steps)
        return warmup_lr_rate + (1.0 - warmup_lr_rate) * step / max(1, num_warmup_steps - 1)
    progress = (step - num_warmup_steps + 1) / max(1, num_training_steps - num_warmup_steps)
    factor = 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress))
    return max(0.0, factor * (1.0 - min_lr_rate) + min_lr_rate)


def test_the_schedule_follows_its_closed_form():
    check_schedule_closed_form("cosine_warmup_with_min_lr", closed_form,
                               [{'min_lr_rate': 0.1}, {'min_lr_rate': 0.1, 'warmup_lr_rate': 0.2}],
                               factory=get_cosine_with_min_lr_schedule_with_warmup_lr_rate,
                               steps=[0, 1, 3, 4, 5, 12, 19, 20],
                               torch_case={"min_lr_rate": 0.2, "warmup_lr_rate": 0.1}, torch_steps=22)


def test_invalid_arguments_are_named_before_anything_is_built():
    with pytest.raises(ValueError, match=re.escape('warmup_lr_rate must be a non-negative ratio, got -0.1')):
        get_scheduler('cosine_warmup_with_min_lr', None, 2, 10,
                      scheduler_specific_kwargs={'min_lr_rate': 0.1, 'warmup_lr_rate': -0.1})


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_cosine_warmup_with_min_lr.plugin",
                         distribution="hfopt-schedule-cosine-warmup-with-min-lr",
                         schedule_kwargs={'cosine_warmup_with_min_lr': {'min_lr_rate': 0.1}})
    assert [s.name for s in specs] == ["cosine_warmup_with_min_lr"]


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
