"""get_scheduler's dispatch, errors and messages (transformers 5.x), SchedulerType, the facade."""
from __future__ import annotations

import pytest
import torch

import hfopt_core
from hfopt_core import (
    FrameworkError,
    MissingPluginError,
    SchedulerType,
    StepFunction,
    UnknownNameError,
    get_scheduler,
)


@pytest.fixture
def opt():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)


def test_scheduler_type_members_and_values():
    assert {m.name: m.value for m in SchedulerType} == {
        "LINEAR": "linear", "COSINE": "cosine", "COSINE_WITH_RESTARTS": "cosine_with_restarts",
        "POLYNOMIAL": "polynomial", "CONSTANT": "constant", "CONSTANT_WITH_WARMUP": "constant_with_warmup",
        "INVERSE_SQRT": "inverse_sqrt", "REDUCE_ON_PLATEAU": "reduce_lr_on_plateau",
        "COSINE_WITH_MIN_LR": "cosine_with_min_lr", "COSINE_WARMUP_WITH_MIN_LR": "cosine_warmup_with_min_lr",
        "WARMUP_STABLE_DECAY": "warmup_stable_decay", "GREEDY": "greedy"}
    assert SchedulerType("cosine") is SchedulerType.COSINE and SchedulerType.COSINE == "cosine"
    with pytest.raises(ValueError, match="foo is not a valid SchedulerType, please select one of"):
        SchedulerType("foo")


@pytest.mark.parametrize("name", [SchedulerType.LINEAR, "linear"])
def test_missing_step_counts_raise_transformers_messages(opt, name):
    with pytest.raises(ValueError, match=r"^SchedulerType.LINEAR requires `num_warmup_steps`, please provide that argument.$"):
        get_scheduler(name, opt)
    with pytest.raises(ValueError, match=r"^SchedulerType.LINEAR requires `num_training_steps`, please provide that argument.$"):
        get_scheduler(name, opt, num_warmup_steps=3)


@pytest.mark.parametrize("name", ["constant_with_warmup", "inverse_sqrt", "warmup_stable_decay", "cosine",
                                  "polynomial", "cosine_with_min_lr"])
def test_every_warmup_schedule_requires_num_warmup_steps(opt, name):
    with pytest.raises(ValueError, match=r"requires `num_warmup_steps`"):
        get_scheduler(name, opt, num_training_steps=10)


def test_wsd_needs_training_or_stable_steps_from_its_own_function(opt):
    with pytest.raises(ValueError, match="Either num_training_steps or num_stable_steps must be specified."):
        get_scheduler("warmup_stable_decay", opt, num_warmup_steps=2, scheduler_specific_kwargs={"num_decay_steps": 2})


def test_constant_ignores_step_counts_and_warns_about_ignored_kwargs(opt):
    sched = get_scheduler("constant", opt, num_warmup_steps=5, num_training_steps=10)
    assert sched.get_last_lr() == [0.1]
    with pytest.warns(UserWarning, match=r"takes no scheduler_specific_kwargs; ignoring \['num_cycles'\]"):
        get_scheduler("constant", opt, scheduler_specific_kwargs={"num_cycles": 2})


def test_mismatched_specific_kwargs_raise_type_error(opt):
    with pytest.raises(TypeError):
        get_scheduler("linear", opt, 1, 10, scheduler_specific_kwargs={"num_cycles": 2})


def test_unknown_name_is_a_value_error_with_suggestion_and_list(opt):
    with pytest.raises(UnknownNameError) as info:
        get_scheduler("cosin", opt, 1, 10)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert "Unknown schedule 'cosin'." in message and "Did you mean 'cosine'?" in message
    assert "Installed schedules:" in message and "warmup_stable_decay" in message and "wsd" in message


def test_name_must_be_a_string(opt):
    with pytest.raises(TypeError, match="must be a str"):
        get_scheduler(3, opt)


def test_alias_resolves(opt):
    sched = get_scheduler("wsd", opt, 2, 10, {"num_decay_steps": 4})
    assert isinstance(sched, torch.optim.lr_scheduler.LambdaLR)


def test_optimizer_none_returns_a_plain_step_function():
    fn = get_scheduler(SchedulerType.COSINE, None, num_warmup_steps=2, num_training_steps=10)
    assert isinstance(fn, StepFunction) and fn(1) == 0.5 and fn(2) == 1.0


def test_torch_only_schedule_with_none_is_a_clear_error():
    with pytest.raises(FrameworkError, match="supports torch, not python"):
        get_scheduler("reduce_lr_on_plateau", None)


def test_foreign_optimizer_is_a_clear_error():
    with pytest.raises(FrameworkError, match="expected a torch.optim.Optimizer"):
        get_scheduler("linear", object(), 1, 2)


@pytest.mark.parametrize(("call", "match"), [
    (lambda o: get_scheduler("polynomial", o, 5, 5), r"num_training_steps \(5\) must differ from num_warmup_steps \(5\)"),
    (lambda o: get_scheduler("polynomial", o, 1, 5, {"lr_end": 0.5}), r"lr_end \(0.5\) must be smaller than initial lr \(0.1\)"),
    (lambda o: get_scheduler("warmup_stable_decay", o, 5, 8, {"num_decay_steps": 4}),
     r"num_training_steps \(8\) must be at least num_warmup_steps \(5\) \+ num_decay_steps \(4\)"),
    (lambda o: get_scheduler("warmup_stable_decay", o, 5, None, {"num_decay_steps": 4, "num_stable_steps": -1}),
     "num_stable_steps must be a non-negative"),
    (lambda o: get_scheduler("warmup_stable_decay", o, 1, 9, {"num_decay_steps": 4, "decay_type": "exp"}),
     "Unknown decay type: exp"),
    (lambda o: get_scheduler("linear", o, -1, 10), "num_warmup_steps must be a non-negative number of steps, got -1"),
    (lambda o: get_scheduler("inverse_sqrt", o, 2, None, {"timescale": 0}), "timescale must be a positive"),
    (lambda o: get_scheduler("cosine_with_min_lr", o, 1, 5), "One of min_lr or min_lr_rate should be set"),
    (lambda o: get_scheduler("cosine_with_min_lr", o, 1, 5, {"min_lr": 0.1, "min_lr_rate": 0.1}),
     "Only one of min_lr or min_lr_rate should be set"),
    (lambda o: get_scheduler("polynomial", None, 1, 5), "with optimizer=None pass lr_init="),
])
def test_bad_input_errors_name_the_arguments(opt, call, match):
    with pytest.raises(ValueError, match=match):
        call(opt)


def test_wsd_both_lengths_warns_and_uses_stable(opt):
    with pytest.warns(UserWarning, match="num_stable_steps will be used"):
        fn = get_scheduler("warmup_stable_decay", None, 2, 100, {"num_decay_steps": 2, "num_stable_steps": 3})
    assert fn(4) == 1.0 and fn(6) < 1.0


def test_facade_exports_plugin_functions():
    from hfopt_core import get_linear_schedule_with_warmup
    from hfopt_schedule_linear import get_linear_schedule_with_warmup as direct

    assert get_linear_schedule_with_warmup is direct
    assert "get_wsd_schedule" in dir(hfopt_core)


def test_facade_says_when_the_providing_plugin_is_disabled(monkeypatch):
    monkeypatch.setenv("HFOPT_DISABLE_PLUGINS", "hfopt-adamw,hfopt-schedule-cosine")
    old = hfopt_core.set_manager(None)
    try:
        with pytest.raises(MissingPluginError, match=r"AdamW is provided by hfopt-adamw==0\.1\.0, which is installed "
                                                     r"but disabled: listed in HFOPT_DISABLE_PLUGINS; remove hfopt-adamw"):
            from hfopt_core import AdamW  # noqa: F401
        with pytest.raises(ImportError, match="remove hfopt-schedule-cosine from HFOPT_DISABLE_PLUGINS"):
            from hfopt_core import get_cosine_schedule_with_warmup  # noqa: F401
        with pytest.raises(UnknownNameError, match="installed but disabled"):
            get_scheduler("cosine", None, 1, 2)
        with pytest.raises(AttributeError):
            hfopt_core.not_a_name
    finally:
        hfopt_core.set_manager(old)
