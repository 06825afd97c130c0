"""Drop-in details: step functions are partials with transformers' keywords; TYPE_TO_SCHEDULER_FUNCTION.

transformers 4.57.6 is the oracle (test-only).
"""
from __future__ import annotations

import functools
import io
import pickle

import pytest
import torch

import hfopt_core
from hfopt_core import TYPE_TO_SCHEDULER_FUNCTION, SchedulerType, StepFunction, get_scheduler

tf_opt = pytest.importorskip("transformers.optimization")


def sgd(lr=0.2):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr)


# (transformers function name, positional args after the optimizer, keyword args)
FUNCTIONS = [
    ("get_constant_schedule", (), {}),
    ("get_constant_schedule_with_warmup", (3,), {}),
    ("get_linear_schedule_with_warmup", (2, 10), {}),
    ("get_cosine_schedule_with_warmup", (2, 10), {"num_cycles": 0.7}),
    ("get_cosine_with_hard_restarts_schedule_with_warmup", (2, 10), {"num_cycles": 3}),
    ("get_polynomial_decay_schedule_with_warmup", (2, 10), {"power": 5.0, "lr_end": 1e-5}),
    ("get_inverse_sqrt_schedule", (2,), {}),
    ("get_inverse_sqrt_schedule", (0,), {"timescale": 7}),
    ("get_cosine_with_min_lr_schedule_with_warmup", (2, 10), {"min_lr": 1e-5}),
    ("get_cosine_with_min_lr_schedule_with_warmup", (2, 10), {"min_lr_rate": 0.1, "num_cycles": 1.0}),
    ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate", (2, 10), {"min_lr": 1e-5, "warmup_lr_rate": 0.2}),
    ("get_wsd_schedule", (2, 4), {"num_training_steps": 12, "warmup_type": "cosine", "min_lr_ratio": 0.1}),
    ("get_wsd_schedule", (2, 4), {"num_stable_steps": 3, "decay_type": "1-sqrt"}),
]


@pytest.mark.parametrize(("function", "args", "kwargs"), FUNCTIONS)
def test_step_function_is_a_partial_with_transformers_args_and_keywords(function, args, kwargs):
    ours = getattr(hfopt_core, function)(sgd(), *args, **kwargs).lr_lambdas[0]
    theirs = getattr(tf_opt, function)(sgd(), *args, **kwargs).lr_lambdas[0]
    assert isinstance(ours, functools.partial) and isinstance(ours, StepFunction)
    assert ours.args == getattr(theirs, "args", ())
    assert ours.keywords == getattr(theirs, "keywords", {})
    for step in range(16):
        # partial's contract: func(step, *args, **keywords) is the call
        assert ours.func(step, *ours.args, **ours.keywords) == ours(step) == theirs(step)


def test_keywords_are_the_live_arguments_and_dict_stays_empty():
    fn = hfopt_core.get_linear_schedule_with_warmup(sgd(), 2, 10).lr_lambdas[0]
    assert fn.__dict__ == {} and vars(fn) == {}
    assert fn.keywords == {"num_warmup_steps": 2, "num_training_steps": 10}
    assert fn.params == fn.keywords and fn.params is not fn.keywords
    assert fn.formula == "hfopt_schedule_linear:linear_multiplier"
    assert repr(fn) == "StepFunction(hfopt_schedule_linear:linear_multiplier, num_warmup_steps=2, num_training_steps=10)"


def test_partial_step_function_pickles_and_scheduler_state_loads_weights_only():
    opt = sgd()
    sched = get_scheduler("cosine", opt, 2, 10, {"num_cycles": 0.7})
    fn = sched.lr_lambdas[0]
    clone = pickle.loads(pickle.dumps(fn))
    assert clone == fn and type(clone) is StepFunction and clone.keywords == fn.keywords
    assert [clone(t) for t in range(12)] == [fn(t) for t in range(12)]
    for _ in range(3):
        opt.step()
        sched.step()
    buffer = io.BytesIO()
    torch.save(sched.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state["lr_lambdas"] == [{}]
    resumed = get_scheduler("cosine", sgd(), 2, 10, {"num_cycles": 0.7})
    resumed.load_state_dict(state)
    assert resumed.last_epoch == 3 and resumed.lr_lambdas[0].keywords == fn.keywords


def test_step_function_equality_and_unhashability():
    from hfopt_schedule_linear import linear_multiplier

    a = StepFunction(linear_multiplier, num_warmup_steps=1, num_training_steps=4)
    assert a == StepFunction(linear_multiplier, num_warmup_steps=1, num_training_steps=4)
    assert a != StepFunction(linear_multiplier, num_warmup_steps=2, num_training_steps=4)
    with pytest.raises(TypeError):
        hash(a)
    with pytest.raises(TypeError, match="is not a plain value"):
        StepFunction(linear_multiplier, num_warmup_steps=object(), num_training_steps=4)
    with pytest.raises(ValueError, match="module-level function"):
        StepFunction(lambda step, ops: 1.0)


# -- TYPE_TO_SCHEDULER_FUNCTION -----------------------------------------------------------------

def test_type_to_scheduler_function_has_transformers_keys_and_same_named_functions():
    ours = dict(TYPE_TO_SCHEDULER_FUNCTION)
    theirs = {k.value: v for k, v in tf_opt.TYPE_TO_SCHEDULER_FUNCTION.items()}
    assert {k.value for k in ours} == set(theirs) | {"greedy"}  # greedy: the 5.x schedule
    for key, function in ours.items():
        assert isinstance(key, SchedulerType)
        if key.value in theirs:
            assert function.__name__ == theirs[key.value].__name__
        assert TYPE_TO_SCHEDULER_FUNCTION[key.value] is function  # a plain string finds it too
    assert list(TYPE_TO_SCHEDULER_FUNCTION) == [m for m in SchedulerType]  # SchedulerType order
    assert len(TYPE_TO_SCHEDULER_FUNCTION) == len(SchedulerType)


def test_type_to_scheduler_function_is_read_only():
    with pytest.raises(TypeError):
        TYPE_TO_SCHEDULER_FUNCTION[SchedulerType.LINEAR] = print
    with pytest.raises(TypeError):
        del TYPE_TO_SCHEDULER_FUNCTION[SchedulerType.LINEAR]
    with pytest.raises(KeyError):
        TYPE_TO_SCHEDULER_FUNCTION["not_a_schedule"]
    assert "cosine" in TYPE_TO_SCHEDULER_FUNCTION and "nope" not in TYPE_TO_SCHEDULER_FUNCTION


def test_type_to_scheduler_function_is_live(monkeypatch):
    monkeypatch.setenv("HFOPT_LOAD_PLUGINS", "hfopt-schedule-linear,hfopt-schedule-cosine")
    old = hfopt_core.set_manager(None)
    try:
        assert list(TYPE_TO_SCHEDULER_FUNCTION) == [SchedulerType.LINEAR, SchedulerType.COSINE]
        monkeypatch.setenv("HFOPT_LOAD_PLUGINS", "hfopt-schedule-linear")
        hfopt_core.set_manager(None)
        assert SchedulerType.COSINE not in TYPE_TO_SCHEDULER_FUNCTION
        assert SchedulerType.LINEAR in TYPE_TO_SCHEDULER_FUNCTION
        with pytest.raises(KeyError):
            TYPE_TO_SCHEDULER_FUNCTION[SchedulerType.COSINE]
    finally:
        hfopt_core.set_manager(old)


def test_type_to_scheduler_function_calls_like_transformers():
    opt = sgd()
    sched = TYPE_TO_SCHEDULER_FUNCTION[SchedulerType.LINEAR](opt, num_warmup_steps=2, num_training_steps=10)
    theirs = tf_opt.TYPE_TO_SCHEDULER_FUNCTION[tf_opt.SchedulerType.LINEAR](sgd(), num_warmup_steps=2,
                                                                            num_training_steps=10)
    assert sched.lr_lambdas[0].keywords == theirs.lr_lambdas[0].keywords


def test_importing_the_mapping_imports_no_framework():
    import subprocess
    import sys

    code = ("import sys, hfopt_core; m = hfopt_core.TYPE_TO_SCHEDULER_FUNCTION; dict(m); "
            "print(sorted(x for x in ('torch', 'tensorflow', 'transformers') if x in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


class Wrapped:
    """An object wrapping a step function: LambdaLR.state_dict() then saves its __dict__ (the step function)."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, step):
        return self.fn(step)


@pytest.mark.parametrize("wrap", [False, True])
@pytest.mark.parametrize(("function", "args", "kwargs"), FUNCTIONS)
def test_save_and_reload_mid_run_continues_identically(tmp_path, function, args, kwargs, wrap):
    """Save the state half way, reload it into the same scheduler: the sequence does not change."""
    def run(reload_at=None):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=10.0)
        sched = getattr(hfopt_core, function)(opt, *args, **kwargs)
        if wrap:
            sched.lr_lambdas = [Wrapped(fn) for fn in sched.lr_lambdas]
        seen = []
        for step in range(10):
            seen.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
            if step == reload_at:
                torch.save(sched.state_dict(), tmp_path / "schedule.bin")
                # a wrapped step function is pickled inside the state: loading it needs weights_only=False
                sched.load_state_dict(torch.load(tmp_path / "schedule.bin", weights_only=not wrap))
        return seen

    assert run(reload_at=5) == run()
