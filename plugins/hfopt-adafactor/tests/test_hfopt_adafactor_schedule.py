"""AdafactorSchedule against transformers' (test-only oracle), pickling, and get_scheduler."""
from __future__ import annotations

import io
import pickle

import pytest
import torch

from conftest import fresh_manager  # noqa: F401 - the fixture, also when this folder runs alone
from hfopt_adafactor import Adafactor, AdafactorSchedule, get_adafactor_schedule

tf_opt = pytest.importorskip("transformers.optimization")


def model_params(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in ((6, 4), (4,), (3,))]


def as_floats(lrs):
    return [float(lr) for lr in lrs]


def trainer_loop(opt_cls, schedule_cls, steps=6, groups=False, **kwargs):
    """What Trainer does: backward, optimizer.step(), scheduler.step(), log get_last_lr()."""
    params = model_params()
    spec = [{"params": params[:2]}, {"params": params[2:]}] if groups else params
    opt = opt_cls(spec, **kwargs)
    sched = schedule_cls(opt, initial_lr=0.25)
    logged = [as_floats(sched.get_last_lr())]
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen)
        opt.step()
        sched.step()
        logged.append(as_floats(sched.get_last_lr()))
    return logged, opt, sched


@pytest.mark.parametrize("kwargs", [dict(), dict(warmup_init=True), dict(scale_parameter=False),
                                    dict(warmup_init=True, scale_parameter=False, beta1=0.9)])
@pytest.mark.parametrize("groups", [False, True])
def test_reports_the_same_lr_as_transformers(kwargs, groups):
    ours, _, _ = trainer_loop(Adafactor, AdafactorSchedule, groups=groups, **kwargs)
    theirs, _, _ = trainer_loop(tf_opt.Adafactor, tf_opt.AdafactorSchedule, groups=groups, **kwargs)
    assert ours == theirs
    assert ours[0] == [0.25] * (2 if groups else 1)  # initial_lr before the first step


def test_reported_lr_is_the_relative_step_formula():
    logged, opt, _ = trainer_loop(Adafactor, AdafactorSchedule, steps=3, warmup_init=True)
    first = opt.param_groups[0]["params"][0]
    rms = float(opt.state[first]["RMS"])
    assert logged[-1][0] == pytest.approx(min(1e-6 * 3, 3 ** -0.5) * max(1e-3, rms), rel=1e-6)


def test_works_with_transformers_optimizer_and_vice_versa():
    mixed, _, _ = trainer_loop(tf_opt.Adafactor, AdafactorSchedule)
    ours, _, _ = trainer_loop(Adafactor, AdafactorSchedule)
    other_way, _, _ = trainer_loop(Adafactor, tf_opt.AdafactorSchedule)
    assert mixed == ours == other_way


def test_grads_before_first_step_report_initial_lr():
    params = model_params()
    opt = Adafactor(params)
    for p in params:
        p.grad = torch.ones_like(p)
    sched = AdafactorSchedule(opt, initial_lr=0.5)  # transformers raises KeyError('step') here
    assert as_floats(sched.get_last_lr()) == [0.5]


def test_pickles_as_a_whole():
    logged, opt, sched = trainer_loop(Adafactor, AdafactorSchedule, steps=3)
    clone = pickle.loads(pickle.dumps(sched))
    assert isinstance(clone, AdafactorSchedule) and isinstance(clone.optimizer, Adafactor)
    assert as_floats(clone.get_last_lr()) == logged[-1]
    assert clone.last_epoch == sched.last_epoch
    params = [p for g in clone.optimizer.param_groups for p in g["params"]]
    for p in params:  # the clone keeps training
        p.grad = torch.ones_like(p)
    clone.optimizer.step()
    clone.step()
    assert clone.optimizer.state[params[0]]["step"] == 4


def test_state_dict_is_plain_data():
    _, _, sched = trainer_loop(Adafactor, AdafactorSchedule, steps=2)
    buffer = io.BytesIO()
    torch.save(sched.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    _, _, fresh = trainer_loop(Adafactor, AdafactorSchedule, steps=0)
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 2


def test_get_adafactor_schedule_and_get_scheduler(fresh_manager):
    from hfopt_core import get_scheduler

    opt = Adafactor(model_params())
    assert isinstance(get_adafactor_schedule(opt), AdafactorSchedule)
    sched = get_scheduler("adafactor", opt, scheduler_specific_kwargs={"initial_lr": 0.125})
    assert isinstance(sched, AdafactorSchedule) and as_floats(sched.get_last_lr()) == [0.125]
    assert as_floats(get_scheduler("adafactor", Adafactor(model_params())).get_last_lr()) == [0.0]
