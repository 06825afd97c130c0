"""Every schedule factory and get_scheduler: bad values named at construction, numpy/tensor numbers accepted.

Accepted inputs are checked against transformers 4.57.6 (test-only oracle): what it accepts as a
number, hfopt accepts and schedules the same way.
"""
from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch

import hfopt_core
from hfopt_core import get_scheduler
from invalid_cases import Case, check_case, parametrize

tf_opt = pytest.importorskip("transformers.optimization")


def sgd(lr=0.1):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def _sched(name, warmup=2, training=10, **specific):
    return lambda: get_scheduler(name, sgd(), warmup, training, specific or None)


def _fn(function, *args, **kwargs):
    return lambda: getattr(hfopt_core, function)(sgd(), *args, **kwargs)


STEP_NAMES = ["linear", "cosine", "cosine_with_restarts", "polynomial", "constant_with_warmup", "inverse_sqrt",
              "cosine_with_min_lr", "cosine_warmup_with_min_lr", "warmup_stable_decay"]
_SPECIFIC = {"cosine_with_min_lr": {"min_lr_rate": 0.1}, "cosine_warmup_with_min_lr": {"min_lr_rate": 0.1},
             "warmup_stable_decay": {"num_decay_steps": 2}}


def _bad_steps_cases():
    cases = []
    for name in STEP_NAMES:
        extra = _SPECIFIC.get(name, {})
        for value, shown, error, match in [
            (math.nan, "nan", ValueError, "num_warmup_steps must be a finite number of steps, got nan"),
            (math.inf, "inf", ValueError, "num_warmup_steps must be a finite number of steps, got inf"),
            (-1, "-1", ValueError, "num_warmup_steps must be a non-negative number of steps, got -1"),
            ("3", "'3'", TypeError, r"num_warmup_steps must be a real number \(number of steps\), got str '3'"),
        ]:
            if shown == "nan" or name in ("linear", "inverse_sqrt"):
                cases.append(Case(f"get_scheduler({name!r})", "num_warmup_steps", shown, error, match,
                                  _sched(name, value, 10, **extra)))
    return cases


INVALID_CASES = [
    *_bad_steps_cases(),
    Case("get_scheduler('linear')", "num_training_steps", "nan", ValueError,
         "num_training_steps must be a finite number of steps, got nan", _sched("linear", 2, math.nan)),
    Case("get_scheduler('cosine')", "num_training_steps", "-inf", ValueError,
         "num_training_steps must be a finite number of steps, got -inf", _sched("cosine", 2, -math.inf)),
    Case("get_scheduler('linear')", "num_training_steps", "True", TypeError,
         r"num_training_steps must be a real number \(number of steps\), got bool True", _sched("linear", 2, True)),
    Case("get_scheduler('linear')", "num_training_steps", "tensor([1, 2])", TypeError,
         r"num_training_steps must be a real number \(number of steps\), got Tensor of shape \(2,\)",
         _sched("linear", 2, torch.tensor([1, 2]))),
    Case("get_scheduler('cosine')", "num_cycles", "nan", ValueError, "num_cycles must be a finite number, got nan",
         _sched("cosine", num_cycles=math.nan)),
    Case("get_scheduler('cosine')", "num_cycles", "-0.5", ValueError,
         "num_cycles must be a non-negative number, got -0.5", _sched("cosine", num_cycles=-0.5)),
    Case("get_scheduler('cosine_with_restarts')", "num_cycles", "'2'", TypeError,
         r"num_cycles must be a real number \(number\), got str '2'", _sched("cosine_with_restarts", num_cycles="2")),
    Case("get_scheduler('polynomial')", "power", "nan", ValueError, "power must be a finite number, got nan",
         _sched("polynomial", power=math.nan)),
    Case("get_scheduler('polynomial')", "power", "-1.0", ValueError, "power must be a non-negative number, got -1.0",
         _sched("polynomial", power=-1.0)),
    Case("get_scheduler('polynomial')", "lr_end", "nan", ValueError, "lr_end must be a finite learning rate, got nan",
         _sched("polynomial", lr_end=math.nan)),
    Case("get_scheduler('polynomial')", "lr_end", "-1e-7", ValueError,
         "lr_end must be a non-negative learning rate, got -1e-07", _sched("polynomial", lr_end=-1e-7)),
    Case("get_scheduler('polynomial')", "lr_end", "0.5 (>= lr 0.1)", ValueError,
         r"lr_end \(0.5\) must be smaller than initial lr \(0.1\)", _sched("polynomial", lr_end=0.5)),
    Case("get_scheduler('polynomial')", "num_training_steps", "== num_warmup_steps", ValueError,
         r"num_training_steps \(5\) must differ from num_warmup_steps \(5\)", _sched("polynomial", 5, 5)),
    Case("get_polynomial_decay_schedule_with_warmup", "lr_init", "0 (optimizer=None)", ValueError,
         "lr_init must be a positive learning rate, got 0",
         lambda: hfopt_core.get_polynomial_decay_schedule_with_warmup(None, 1, 5, lr_init=0)),
    Case("get_scheduler('inverse_sqrt')", "timescale", "0", ValueError,
         "timescale must be a positive number of steps, got 0", _sched("inverse_sqrt", timescale=0)),
    Case("get_scheduler('inverse_sqrt')", "timescale", "nan", ValueError,
         "timescale must be a finite number of steps, got nan", _sched("inverse_sqrt", timescale=math.nan)),
    Case("get_scheduler('cosine_with_min_lr')", "min_lr", "-1e-3", ValueError,
         "min_lr must be a non-negative learning rate, got -0.001", _sched("cosine_with_min_lr", min_lr=-1e-3)),
    Case("get_scheduler('cosine_with_min_lr')", "min_lr", "nan", ValueError,
         "min_lr must be a finite learning rate, got nan", _sched("cosine_with_min_lr", min_lr=math.nan)),
    Case("get_scheduler('cosine_with_min_lr')", "min_lr_rate", "inf", ValueError,
         "min_lr_rate must be a finite ratio, got inf", _sched("cosine_with_min_lr", min_lr_rate=math.inf)),
    Case("get_scheduler('cosine_with_min_lr')", "min_lr / min_lr_rate", "both", ValueError,
         "Only one of min_lr or min_lr_rate should be set", _sched("cosine_with_min_lr", min_lr=0.1, min_lr_rate=0.1)),
    Case("get_scheduler('cosine_with_min_lr')", "min_lr / min_lr_rate", "neither", ValueError,
         "One of min_lr or min_lr_rate should be set", _sched("cosine_with_min_lr")),
    Case("get_scheduler('cosine_warmup_with_min_lr')", "warmup_lr_rate", "-0.1", ValueError,
         "warmup_lr_rate must be a non-negative ratio, got -0.1",
         _sched("cosine_warmup_with_min_lr", min_lr_rate=0.1, warmup_lr_rate=-0.1)),
    Case("get_scheduler('cosine_warmup_with_min_lr')", "min_lr_rate", "'0.1'", TypeError,
         r"min_lr_rate must be a real number \(ratio\), got str '0.1'",
         _sched("cosine_warmup_with_min_lr", min_lr_rate="0.1")),
    Case("get_scheduler('warmup_stable_decay')", "num_decay_steps", "nan", ValueError,
         "num_decay_steps must be a finite number of steps, got nan",
         _sched("warmup_stable_decay", num_decay_steps=math.nan)),
    Case("get_scheduler('warmup_stable_decay')", "num_stable_steps", "-1", ValueError,
         "num_stable_steps must be a non-negative number of steps, got -1",
         _sched("warmup_stable_decay", 2, None, num_decay_steps=2, num_stable_steps=-1)),
    Case("get_scheduler('warmup_stable_decay')", "num_training_steps", "< warmup + decay", ValueError,
         r"num_training_steps \(8\) must be at least num_warmup_steps \(5\) \+ num_decay_steps \(4\)",
         _sched("warmup_stable_decay", 5, 8, num_decay_steps=4)),
    Case("get_scheduler('warmup_stable_decay')", "min_lr_ratio", "-0.1", ValueError,
         "min_lr_ratio must be a non-negative ratio, got -0.1",
         _sched("warmup_stable_decay", num_decay_steps=2, min_lr_ratio=-0.1)),
    Case("get_scheduler('warmup_stable_decay')", "decay_type", "'exp'", ValueError, "Unknown decay type: exp",
         _sched("warmup_stable_decay", num_decay_steps=2, decay_type="exp")),
    Case("get_scheduler('warmup_stable_decay')", "num_cycles", "inf", ValueError,
         "num_cycles must be a finite number, got inf",
         _sched("warmup_stable_decay", num_decay_steps=2, num_cycles=math.inf)),
    Case("get_linear_schedule_with_warmup", "last_epoch", "1.5", TypeError,
         r"last_epoch must be an int \(step index\), got float 1.5", _fn("get_linear_schedule_with_warmup", 2, 10,
                                                                         last_epoch=1.5)),
    Case("get_constant_schedule", "last_epoch", "-2", ValueError, "last_epoch must be a >= -1 step index, got -2",
         _fn("get_constant_schedule", last_epoch=-2)),
    Case("get_scheduler", "scheduler_specific_kwargs", "'num_cycles=2'", TypeError,
         r"scheduler_specific_kwargs must be a mapping \(dict\) of argument names to values, got str: 'num_cycles=2'",
         lambda: get_scheduler("cosine", sgd(), 2, 10, "num_cycles=2")),
    Case("get_scheduler", "scheduler_specific_kwargs", "[('num_cycles', 2)]", TypeError,
         r"scheduler_specific_kwargs must be a mapping \(dict\).*got list",
         lambda: get_scheduler("cosine", sgd(), 2, 10, [("num_cycles", 2)])),
    Case("get_scheduler('linear')", "scheduler_specific_kwargs", "{'num_cycles': 2}", TypeError,
         r"scheduler_specific_kwargs for SchedulerType.LINEAR has unknown key\(s\) 'num_cycles'; it accepts: last_epoch",
         _sched("linear", num_cycles=2)),
    Case("get_scheduler('cosine')", "scheduler_specific_kwargs", "{'num_cycle': 2}", TypeError,
         r"has unknown key\(s\) 'num_cycle'; it accepts: num_cycles, last_epoch", _sched("cosine", num_cycle=2)),
    Case("get_scheduler('cosine')", "scheduler_specific_kwargs", "{'num_training_steps': 5}", TypeError,
         r"repeats 'num_training_steps': pass num_training_steps as get_scheduler's own argument",
         _sched("cosine", num_training_steps=5)),
    Case("get_scheduler('constant')", "scheduler_specific_kwargs", "'x'", TypeError,
         r"scheduler_specific_kwargs must be a mapping", lambda: get_scheduler("constant", sgd(), None, None, "x")),
    Case("get_scheduler('reduce_lr_on_plateau')", "scheduler_specific_kwargs", "{'patiance': 1}", TypeError,
         r"reduce_lr_on_plateau got unknown argument\(s\) 'patiance'; ReduceLROnPlateau accepts: mode, factor, patience",
         lambda: get_scheduler("reduce_lr_on_plateau", sgd(), scheduler_specific_kwargs={"patiance": 1})),
    *[Case("get_scheduler('reduce_lr_on_plateau')", arg, shown, error, match,
           (lambda kw: lambda: get_scheduler("reduce_lr_on_plateau", sgd(), scheduler_specific_kwargs=kw))({arg: value}))
      for arg, value, shown, error, match in [
          ("factor", math.nan, "nan", ValueError, "factor must be a finite number, got nan"),
          ("factor", 1.5, "1.5", ValueError, r"factor must be in \(0, 1\), got 1.5"),
          ("patience", -1, "-1", ValueError, "patience must be a non-negative count, got -1"),
          ("patience", 2.5, "2.5", TypeError, r"patience must be an int \(count\), got float 2.5"),
          ("threshold", math.inf, "inf", ValueError, "threshold must be a finite number, got inf"),
          ("cooldown", -2, "-2", ValueError, "cooldown must be a non-negative count, got -2"),
          ("min_lr", -1e-3, "-1e-3", ValueError, "min_lr must be a non-negative learning rate, got -0.001"),
          ("min_lr", [math.nan], "[nan]", ValueError, r"min_lr\[0\] must be a finite learning rate, got nan"),
          ("eps", math.nan, "nan", ValueError, "eps must be a finite number, got nan"),
      ]],
    Case("get_scheduler", "name", "3", TypeError, "scheduler name must be a str, got int: 3",
         lambda: get_scheduler(3, sgd())),
]


@parametrize(INVALID_CASES)
def test_invalid_input_is_named(case):
    check_case(case)


@pytest.mark.parametrize("name", STEP_NAMES)
def test_nan_warmup_is_rejected_where_transformers_returns_garbage(name):
    """transformers builds these and returns nonsense multipliers (or fails on the first step)."""
    with pytest.raises(ValueError, match="num_warmup_steps must be a finite number of steps, got nan"):
        get_scheduler(name, sgd(), math.nan, 10, _SPECIFIC.get(name))


def test_transformers_nan_warmup_gives_a_num_training_steps_multiplier():
    """The documented reason for the check: 4.57.6 returns num_training_steps x the lr at step 0."""
    theirs = tf_opt.get_scheduler("linear", sgd(), num_warmup_steps=math.nan, num_training_steps=100)
    assert theirs.lr_lambdas[0](0) == 100.0


# -- good values: numpy scalars, 0-d tensors, tensor learning rates -----------------------------

NUMERIC_CASES = [
    ("linear", {"num_warmup_steps": np.int64(3), "num_training_steps": torch.tensor(12)}, {}),
    ("cosine", {"num_warmup_steps": np.int32(2), "num_training_steps": np.int64(15)},
     {"num_cycles": np.float64(0.75)}),
    ("cosine_with_restarts", {"num_warmup_steps": torch.tensor(1), "num_training_steps": np.int64(15)},
     {"num_cycles": np.int64(3)}),
    ("polynomial", {"num_warmup_steps": np.int64(2), "num_training_steps": np.int64(12)},
     {"power": np.float32(2.0), "lr_end": np.float64(1e-3)}),
    ("constant_with_warmup", {"num_warmup_steps": torch.tensor(4)}, {}),
    ("cosine_with_min_lr", {"num_warmup_steps": np.int64(2), "num_training_steps": np.int64(12)},
     {"min_lr": np.float64(1e-3)}),
    ("cosine_warmup_with_min_lr", {"num_warmup_steps": np.int64(3), "num_training_steps": np.int64(12)},
     {"min_lr_rate": torch.tensor(0.1)}),
    ("warmup_stable_decay", {"num_warmup_steps": np.int64(2), "num_training_steps": np.int64(12)},
     {"num_decay_steps": np.int64(4), "min_lr_ratio": np.float64(0.1)}),
]


def _lrs(sched, opt, steps=16):
    out = []
    for _ in range(steps):
        out.append(float(opt.param_groups[0]["lr"]))
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize(("name", "counts", "specific"), NUMERIC_CASES)
def test_numpy_and_tensor_numbers_are_accepted_like_transformers(name, counts, specific):
    ours_opt, theirs_opt = sgd(), sgd()
    ours = get_scheduler(name, ours_opt, **counts, scheduler_specific_kwargs=specific)
    theirs = tf_opt.get_scheduler(name, theirs_opt, **counts, scheduler_specific_kwargs=specific)
    assert _lrs(ours, ours_opt) == pytest.approx(_lrs(theirs, theirs_opt), rel=1e-6, abs=1e-12)
    # converted once: the step function holds plain Python numbers, pickles without numpy or torch
    keywords = ours.lr_lambdas[0].keywords
    assert all(type(v) in (int, float, str, type(None)) for v in keywords.values()), keywords
    assert pickle.loads(pickle.dumps(ours.lr_lambdas[0])) == ours.lr_lambdas[0]


def test_inverse_sqrt_numpy_timescale():
    fn = get_scheduler("inverse_sqrt", None, np.int64(4), scheduler_specific_kwargs={"timescale": np.float64(16)})
    assert fn.keywords == {"num_warmup_steps": 4, "timescale": 16.0}
    assert fn(20) == pytest.approx(1 / math.sqrt((20 + 16 - 4) / 16))


ALL_LAMBDA = ["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
              "inverse_sqrt", "cosine_with_min_lr", "cosine_warmup_with_min_lr", "warmup_stable_decay"]


@pytest.mark.parametrize("name", ALL_LAMBDA + ["reduce_lr_on_plateau", "greedy"])
def test_tensor_learning_rates_work_with_every_schedule(name):
    """Optimizers whose group lr is a tensor (torch's capturable / compiled setups) schedule like float ones."""
    specific = {"cosine_with_min_lr": {"min_lr": 1e-3}, "cosine_warmup_with_min_lr": {"min_lr": 1e-3},
                "warmup_stable_decay": {"num_decay_steps": 4}, "polynomial": {"lr_end": 1e-3},
                "greedy": {"patience": 0, "min_lr": 1e-4}, "reduce_lr_on_plateau": {"patience": 0}}.get(name)
    lrs = []
    for lr in (0.1, torch.tensor(0.1)):
        param = torch.nn.Parameter(torch.ones(2))
        opt = torch.optim.AdamW([param], lr=lr)
        sched = get_scheduler(name, opt, 2, 12, specific)
        seen = []
        for step in range(14):
            param.grad = torch.ones(2)
            opt.step()
            if name in ("reduce_lr_on_plateau", "greedy"):
                sched.step(1.0 if step < 3 else 2.0)
            else:
                sched.step()
            seen.append(float(opt.param_groups[0]["lr"]))
        assert isinstance(opt.param_groups[0]["lr"], type(lr))
        lrs.append((seen, param.detach().clone()))
    assert lrs[1][0] == pytest.approx(lrs[0][0], rel=1e-6)
    torch.testing.assert_close(lrs[1][1], lrs[0][1])


# -- the plugin API's checks themselves -----------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (np.int64(3), 3), (np.float32(0.5), 0.5), (np.array(7), 7), (np.array(2.5), 2.5),
    (torch.tensor(4), 4), (torch.tensor(0.25, dtype=torch.float64), 0.25), (3, 3), (1.5, 1.5),
])
def test_plain_number_converts_numpy_and_0d_tensors(value, expected):
    from hfopt_core.plugin import plain_number

    out = plain_number(value)
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize("value", [True, np.bool_(True), torch.tensor(True), "1", None, [1], torch.zeros(2)])
def test_check_number_refuses_non_numbers(value):
    from hfopt_core.plugin import check_number

    with pytest.raises(TypeError, match="^x must be a real number"):
        check_number("x", value)


def test_check_number_bounds_and_integers():
    from hfopt_core.plugin import check_number

    assert check_number("x", None, allow_none=True) is None
    assert check_number("x", np.int64(0), minimum=0, integer=True) == 0
    with pytest.raises(ValueError, match="x must be a positive number, got 0"):
        check_number("x", 0, positive=True)
    with pytest.raises(ValueError, match="x must be a >= 1 count, got 0"):
        check_number("x", 0, minimum=1, what="count")
    with pytest.raises(TypeError, match=r"x must be an int \(number\), got float 1.0"):
        check_number("x", 1.0, integer=True)
    with pytest.raises(ValueError, match="x must be a finite number, got -inf"):
        check_number("x", torch.tensor(-math.inf))
