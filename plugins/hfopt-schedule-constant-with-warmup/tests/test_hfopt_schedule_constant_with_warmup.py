"""Tests of hfopt-schedule-constant-with-warmup, runnable alone:

    pytest plugins/hfopt-schedule-constant-with-warmup

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
from hfopt_schedule_constant_with_warmup import get_constant_schedule_with_warmup

README = Path(__file__).resolve().parents[1] / "README.md"
W = 4  # num_warmup_steps
COMMON = dict(num_warmup_steps=W)  # what get_scheduler passes


def closed_form(step, num_warmup_steps):
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    return 1.0


STEPS = [0, 1, 3, 4, 5, 100]


@pytest.mark.parametrize("kwargs", [
    {},
])
def test_step_function_is_the_closed_form(kwargs):
    fn = get_scheduler("constant_with_warmup", None, **COMMON, scheduler_specific_kwargs=kwargs)
    direct = get_constant_schedule_with_warmup(None, **COMMON, **kwargs)
    for step in STEPS:
        want = closed_form(step, **COMMON, **kwargs)
        assert fn(step) == pytest.approx(want, rel=1e-12, abs=1e-15), step
        assert direct(step) == fn(step)
    restored = pickle.loads(pickle.dumps(fn))
    assert [restored(step) for step in STEPS] == [fn(step) for step in STEPS]


def test_torch_scheduler_follows_the_closed_form():
    torch = pytest.importorskip("torch")
    lr, kwargs = 0.5, {}
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = get_scheduler("constant_with_warmup", optimizer, **COMMON, scheduler_specific_kwargs=kwargs)
    for step in range(8):
        want = lr * closed_form(step, **COMMON, **kwargs)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(want, rel=1e-12, abs=1e-15), step
        optimizer.step()
        scheduler.step()
    rebuilt = get_scheduler("constant_with_warmup", optimizer, **COMMON, scheduler_specific_kwargs=kwargs)
    rebuilt.load_state_dict(scheduler.state_dict())
    assert rebuilt.last_epoch == 8 and rebuilt.get_last_lr() == scheduler.get_last_lr()


def test_invalid_arguments_are_named_before_anything_is_built():
    message = 'num_warmup_steps must be a non-negative number of steps, got -1'
    with pytest.raises(ValueError, match=re.escape(message)):
        get_constant_schedule_with_warmup(None, num_warmup_steps=-1)


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_constant_with_warmup.plugin",
                         distribution="hfopt-schedule-constant-with-warmup")
    assert [s.name for s in specs] == ["constant_with_warmup"]


def test_the_readme_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README.md shows a python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
