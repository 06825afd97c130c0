"""Every schedule against transformers (test-only oracle) and against closed forms written here."""
from __future__ import annotations

import math

import pytest
import torch

import hfopt_core
from hfopt_core import SchedulerType, get_scheduler

tf_opt = pytest.importorskip("transformers.optimization")

STEPS = 40


def make_optimizer(lr=0.1, groups=1):
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(groups)]
    return torch.optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)], lr=lr)


def lrs(scheduler, optimizer, steps=STEPS):
    out = []
    for _ in range(steps):
        out.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return out


# (name, hfopt function name == transformers function name, kwargs)
CASES = [
    ("constant", "get_constant_schedule", {}),
    ("constant_with_warmup", "get_constant_schedule_with_warmup", {"num_warmup_steps": 7}),
    ("constant_with_warmup", "get_constant_schedule_with_warmup", {"num_warmup_steps": 0}),
    ("linear", "get_linear_schedule_with_warmup", {"num_warmup_steps": 5, "num_training_steps": 30}),
    ("linear", "get_linear_schedule_with_warmup", {"num_warmup_steps": 0, "num_training_steps": 1}),
    ("cosine", "get_cosine_schedule_with_warmup", {"num_warmup_steps": 5, "num_training_steps": 30}),
    ("cosine", "get_cosine_schedule_with_warmup",
     {"num_warmup_steps": 3, "num_training_steps": 25, "num_cycles": 1.7}),
    ("cosine_with_restarts", "get_cosine_with_hard_restarts_schedule_with_warmup",
     {"num_warmup_steps": 4, "num_training_steps": 30, "num_cycles": 3}),
    ("polynomial", "get_polynomial_decay_schedule_with_warmup",
     {"num_warmup_steps": 5, "num_training_steps": 30, "lr_end": 1e-3, "power": 2.0}),
    ("polynomial", "get_polynomial_decay_schedule_with_warmup",
     {"num_warmup_steps": 10, "num_training_steps": 4}),
    ("inverse_sqrt", "get_inverse_sqrt_schedule", {"num_warmup_steps": 6}),
    ("inverse_sqrt", "get_inverse_sqrt_schedule", {"num_warmup_steps": 0}),
    ("inverse_sqrt", "get_inverse_sqrt_schedule", {"num_warmup_steps": 4, "timescale": 9}),
    ("cosine_with_min_lr", "get_cosine_with_min_lr_schedule_with_warmup",
     {"num_warmup_steps": 5, "num_training_steps": 30, "min_lr": 1e-3}),
    ("cosine_with_min_lr", "get_cosine_with_min_lr_schedule_with_warmup",
     {"num_warmup_steps": 5, "num_training_steps": 30, "min_lr_rate": 0.2, "num_cycles": 1.0}),
    ("cosine_warmup_with_min_lr", "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
     {"num_warmup_steps": 5, "num_training_steps": 30, "min_lr_rate": 0.1}),
    ("cosine_warmup_with_min_lr", "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
     {"num_warmup_steps": 6, "num_training_steps": 30, "min_lr": 0.01, "warmup_lr_rate": 0.25}),
    ("warmup_stable_decay", "get_wsd_schedule",
     {"num_warmup_steps": 5, "num_decay_steps": 10, "num_training_steps": 30}),
    *[("warmup_stable_decay", "get_wsd_schedule",
       {"num_warmup_steps": 6, "num_decay_steps": 12, "num_stable_steps": 9, "warmup_type": w, "decay_type": d,
        "min_lr_ratio": 0.1, "num_cycles": 0.5})
      for w in ("linear", "cosine", "1-sqrt") for d in ("linear", "cosine", "1-sqrt")],
]


@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize(("name", "function", "kwargs"), CASES)
def test_torch_scheduler_matches_transformers_bit_for_bit(name, function, kwargs, groups):
    ours_opt, theirs_opt = make_optimizer(groups=groups), make_optimizer(groups=groups)
    ours = getattr(hfopt_core, function)(ours_opt, **kwargs)
    theirs = getattr(tf_opt, function)(theirs_opt, **kwargs)
    assert isinstance(ours, torch.optim.lr_scheduler.LambdaLR)
    assert lrs(ours, ours_opt) == lrs(theirs, theirs_opt)


@pytest.mark.parametrize(("name", "function", "kwargs"), CASES)
def test_plain_callable_matches_transformers_multiplier(name, function, kwargs):
    theirs_opt = make_optimizer(lr=1.0)
    theirs = getattr(tf_opt, function)(theirs_opt, **kwargs)
    extra = {"lr_init": 1.0} if ("min_lr" in kwargs or name == "polynomial") else {}
    ours = getattr(hfopt_core, function)(None, **kwargs, **extra)
    assert [ours(step) for step in range(STEPS)] == [theirs.lr_lambdas[0](step) for step in range(STEPS)]


@pytest.mark.parametrize("name", [m for m in SchedulerType if m not in (SchedulerType.GREEDY,)])
def test_get_scheduler_matches_transformers(name):
    kwargs = {"num_warmup_steps": 4, "num_training_steps": 24}
    specific = {SchedulerType.COSINE_WITH_MIN_LR: {"min_lr_rate": 0.1},
                SchedulerType.COSINE_WARMUP_WITH_MIN_LR: {"min_lr": 0.005},
                SchedulerType.WARMUP_STABLE_DECAY: {"num_decay_steps": 8},
                SchedulerType.REDUCE_ON_PLATEAU: {"patience": 1}}.get(name)
    ours_opt, theirs_opt = make_optimizer(), make_optimizer()
    ours = get_scheduler(name, ours_opt, **kwargs, scheduler_specific_kwargs=specific)
    theirs = tf_opt.get_scheduler(name.value, theirs_opt, **kwargs, scheduler_specific_kwargs=specific)
    assert type(ours) is type(theirs)
    if name == SchedulerType.REDUCE_ON_PLATEAU:
        for metric in [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]:
            ours.step(metric), theirs.step(metric)
        assert ours_opt.param_groups[0]["lr"] == theirs_opt.param_groups[0]["lr"] < 0.1
        return
    assert lrs(ours, ours_opt) == lrs(theirs, theirs_opt)


# -- closed forms, independent of any implementation -----------------------------------------

def test_cosine_closed_form():
    fn = get_scheduler("cosine", None, num_warmup_steps=10, num_training_steps=110)
    assert fn(0) == 0.0 and fn(5) == 0.5 and fn(10) == 1.0
    assert fn(60) == pytest.approx(0.5)  # half way through the decay: cos(pi/2)
    assert fn(110) == pytest.approx(0.0, abs=1e-15) and fn(500) >= 0.0


def test_linear_closed_form_and_after_last_step():
    fn = get_scheduler("linear", None, num_warmup_steps=4, num_training_steps=12)
    assert [fn(t) for t in (0, 2, 4, 8, 12, 13, 100)] == [0.0, 0.5, 1.0, 0.5, 0.0, 0.0, 0.0]


def test_polynomial_closed_form_and_after_last_step():
    opt = make_optimizer(lr=1.0)
    sched = get_scheduler("polynomial", opt, num_warmup_steps=2, num_training_steps=6,
                          scheduler_specific_kwargs={"lr_end": 0.2, "power": 2.0})
    seen = [lr[0] for lr in lrs(sched, opt, steps=10)]
    expected = [0.0, 0.5] + [(1.0 - 0.2) * (1 - (t - 2) / 4) ** 2 + 0.2 for t in range(2, 7)] + [0.2] * 3
    assert seen == pytest.approx(expected, rel=1e-12)


def test_inverse_sqrt_takes_timescale_through_get_scheduler():
    fn = get_scheduler("inverse_sqrt", None, num_warmup_steps=4,
                       scheduler_specific_kwargs={"timescale": 16})
    assert fn(2) == 0.5
    for t in (4, 20, 100):
        assert fn(t) == pytest.approx(1 / math.sqrt((t + 16 - 4) / 16))


def test_inverse_sqrt_default_timescale():
    assert get_scheduler("inverse_sqrt", None, num_warmup_steps=0)(30_000) == pytest.approx(0.5)


def test_wsd_phases_closed_form():
    fn = get_scheduler("wsd", None, num_warmup_steps=10, num_training_steps=40,
                       scheduler_specific_kwargs={"num_decay_steps": 10, "decay_type": "linear",
                                                  "min_lr_ratio": 0.1})
    assert fn(0) == pytest.approx(0.1) and fn(5) == pytest.approx(0.55)
    assert [fn(t) for t in (10, 20, 29)] == [1.0, 1.0, 1.0]
    assert fn(35) == pytest.approx(0.55) and fn(40) == pytest.approx(0.1) and fn(1000) == pytest.approx(0.1)


def test_cosine_with_min_lr_floor():
    opt = make_optimizer(lr=0.5)
    sched = get_scheduler("cosine_with_min_lr", opt, 0, 10, scheduler_specific_kwargs={"min_lr": 0.05})
    seen = [lr[0] for lr in lrs(sched, opt, steps=11)]
    assert seen[0] == pytest.approx(0.5) and seen[10] == pytest.approx(0.05) and min(seen) >= 0.05 - 1e-12
