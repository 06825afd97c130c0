"""Torch schedulers: whole-object pickling, state_dict round trips, resuming, several groups."""
from __future__ import annotations

import io
import pickle

import pytest
import torch

from hfopt_core import SchedulerType, get_manager, get_scheduler
from hfopt_core.specs import resolve_step_counts

#: every installed closed-form schedule with the example arguments its plugin declares ('20%' of the
#: 20 steps every test here runs)
FORMULA_SCHEDULES = {spec.name: resolve_step_counts(spec.example, 20) for spec in get_manager().specs("schedule")
                     if "python" in spec.frameworks}


def optimizer(groups=2):
    params = [torch.nn.Parameter(torch.ones(3)) for _ in range(groups)]
    return torch.optim.AdamW([{"params": [p], "lr": 0.01 * (i + 1)} for i, p in enumerate(params)], lr=0.01)


def build(name, opt):
    return get_scheduler(name, opt, num_warmup_steps=4, num_training_steps=20,
                         scheduler_specific_kwargs=FORMULA_SCHEDULES[name])


def run(sched, opt, steps):
    seen = []
    for _ in range(steps):
        opt.step()
        sched.step()
        seen.append(sched.get_last_lr())
    return seen


@pytest.mark.parametrize("name", FORMULA_SCHEDULES)
def test_state_dict_round_trip_reproduces_the_sequence(name):
    opt = optimizer()
    sched = build(name, opt)
    run(sched, opt, 7)
    buffer = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buffer)
    expected = run(sched, opt, 20)

    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)  # plain data only: no pickled functions
    opt2 = optimizer()
    opt2.load_state_dict(checkpoint["opt"])
    sched2 = build(name, opt2)
    sched2.load_state_dict(checkpoint["sched"])
    assert run(sched2, opt2, 20) == expected


@pytest.mark.parametrize("name", FORMULA_SCHEDULES)
def test_whole_scheduler_pickles(name):
    opt = optimizer()
    sched = build(name, opt)
    run(sched, opt, 5)
    clone = pickle.loads(pickle.dumps(sched))
    assert run(clone, clone.optimizer, 10) == run(sched, opt, 10)


@pytest.mark.parametrize("name", FORMULA_SCHEDULES)
def test_plain_callable_pickles_and_needs_no_optimizer(name):
    kwargs = dict(FORMULA_SCHEDULES[name])
    if name == "polynomial":  # its lr_end is relative to the initial lr, which optimizer=None lacks
        kwargs["lr_init"] = 0.01
    fn = get_scheduler(name, None, num_warmup_steps=4, num_training_steps=20, scheduler_specific_kwargs=kwargs)
    clone = pickle.loads(pickle.dumps(fn))
    assert clone == fn and [clone(t) for t in range(25)] == [fn(t) for t in range(25)]


@pytest.mark.parametrize(("name", "function"), [("linear", "get_linear_schedule_with_warmup"),
                                              ("cosine", "get_cosine_schedule_with_warmup"),
                                              ("warmup_stable_decay", "get_wsd_schedule")])
def test_last_epoch_resume_continues_the_sequence(name, function):
    import hfopt_core

    opt = optimizer()
    full = run(build(name, opt), opt, 15)

    resumed_opt = optimizer()
    for group in resumed_opt.param_groups:
        group["initial_lr"] = group["lr"]
    resumed = getattr(hfopt_core, function)(resumed_opt, num_warmup_steps=4, num_training_steps=20, last_epoch=9,
                                            **FORMULA_SCHEDULES[name])
    assert run(resumed, resumed_opt, 5) == full[10:15]


def test_last_epoch_without_initial_lr_raises_like_torch():
    from hfopt_core import get_linear_schedule_with_warmup

    with pytest.raises(KeyError, match="initial_lr"):
        get_linear_schedule_with_warmup(optimizer(), 2, 10, last_epoch=3)


def test_each_group_scales_its_own_lr():
    opt = optimizer(groups=3)
    sched = get_scheduler(SchedulerType.LINEAR, opt, num_warmup_steps=2, num_training_steps=4)
    assert run(sched, opt, 3) == [[0.005, 0.01, 0.015], [0.01, 0.02, 0.03], [0.005, 0.01, 0.015]]


def test_state_dict_layout_is_transformers_own():
    ours, theirs_opt = build("cosine", optimizer()), optimizer()
    tf_opt = pytest.importorskip("transformers.optimization")
    theirs = tf_opt.get_cosine_schedule_with_warmup(theirs_opt, 4, 20, num_cycles=0.7)
    assert ours.state_dict() == theirs.state_dict()
    assert ours.state_dict()["lr_lambdas"] == [{}, {}]


@pytest.mark.parametrize(("name", "function", "kwargs"), [
    ("linear", "get_linear_schedule_with_warmup", {}),
    ("cosine", "get_cosine_schedule_with_warmup", {"num_cycles": 0.7}),
    ("polynomial", "get_polynomial_decay_schedule_with_warmup", {"power": 2.0}),
])
def test_resuming_with_longer_training_uses_the_new_length_like_transformers(name, function, kwargs):
    """Trainer builds the scheduler from the current arguments, then loads the checkpoint's state."""
    import hfopt_core

    tf_opt = pytest.importorskip("transformers.optimization")
    sequences = []
    for module in (hfopt_core, tf_opt):
        opt = optimizer()
        sched = getattr(module, function)(opt, 4, 20, **kwargs)
        run(sched, opt, 8)
        saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
        resumed_opt = optimizer()
        resumed_opt.load_state_dict(saved_opt)
        resumed = getattr(module, function)(resumed_opt, 4, 40, **kwargs)  # training extended
        resumed.load_state_dict(saved_sched)
        sequences.append(run(resumed, resumed_opt, 10))
    assert sequences[0] == sequences[1]
