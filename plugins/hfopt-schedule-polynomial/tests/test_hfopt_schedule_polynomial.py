"""Tests of hfopt-schedule-polynomial, runnable alone:

    pytest plugins/hfopt-schedule-polynomial

The expectations are computed here from the closed form (the formula in the package docstring,
which is transformers' documented schedule), never from the plugin's own code.
"""
from __future__ import annotations

import math
import pickle
import re
from pathlib import Path

import pytest

from hfopt_core import get_scheduler
from hfopt_core.testing import check_plugin
from hfopt_schedule_polynomial import get_polynomial_decay_schedule_with_warmup

README = Path(__file__).resolve().parents[1] / "README.md"
W = 4  # num_warmup_steps
T = 20  # num_training_steps
COMMON = dict(num_warmup_steps=W, num_training_steps=T)  # what get_scheduler passes


def closed_form(step, num_warmup_steps, num_training_steps, lr_init, lr_end=1e-7, power=1.0):
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    if step > num_training_steps:
        return lr_end / lr_init
    remaining = 1 - (step - num_warmup_steps) / (num_training_steps - num_warmup_steps)
    return ((lr_init - lr_end) * remaining ** power + lr_end) / lr_init


STEPS = [0, 2, 4, 5, 9, 12, 19, 20, 30]


@pytest.mark.parametrize("kwargs", [
    {'lr_init': 0.5},
    {'lr_init': 0.5, 'power': 2.0, 'lr_end': 0.0001},
])
def test_step_function_is_the_closed_form(kwargs):
    fn = get_scheduler("polynomial", None, **COMMON, scheduler_specific_kwargs=kwargs)
    direct = get_polynomial_decay_schedule_with_warmup(None, **COMMON, **kwargs)
    for step in STEPS:
        want = closed_form(step, **COMMON, **kwargs)
        assert fn(step) == pytest.approx(want, rel=1e-12, abs=1e-15), step
        assert direct(step) == fn(step)
    restored = pickle.loads(pickle.dumps(fn))
    assert [restored(step) for step in STEPS] == [fn(step) for step in STEPS]


def test_torch_scheduler_follows_the_closed_form():
    torch = pytest.importorskip("torch")
    lr, kwargs = 0.5, {"power": 3.0, "lr_end": 0.01}
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = get_scheduler("polynomial", optimizer, **COMMON, scheduler_specific_kwargs=kwargs)
    for step in range(24):
        want = lr * closed_form(step, **COMMON, **{"lr_init": 0.5, "power": 3.0, "lr_end": 0.01})
        assert optimizer.param_groups[0]["lr"] == pytest.approx(want, rel=1e-12, abs=1e-15), step
        optimizer.step()
        scheduler.step()
    rebuilt = get_scheduler("polynomial", optimizer, **COMMON, scheduler_specific_kwargs=kwargs)
    rebuilt.load_state_dict(scheduler.state_dict())
    assert rebuilt.last_epoch == 24 and rebuilt.get_last_lr() == scheduler.get_last_lr()


def test_invalid_arguments_are_named_before_anything_is_built():
    message = 'lr_end (1.0) must be smaller than initial lr (0.5)'
    with pytest.raises(ValueError, match=re.escape(message)):
        get_polynomial_decay_schedule_with_warmup(None, 1, 10, lr_end=1.0, lr_init=0.5)


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_polynomial.plugin",
                         distribution="hfopt-schedule-polynomial",
                         schedule_kwargs={'polynomial': {'lr_init': 1.0}})
    assert [s.name for s in specs] == ["polynomial"]


def test_the_readme_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README.md shows a python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
