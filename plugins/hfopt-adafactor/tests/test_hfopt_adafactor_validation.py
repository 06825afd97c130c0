"""Adafactor refuses bad input before it changes anything: arguments (the INVALID_CASES table),
duplicate parameters, gradients and saved state (checked in a subprocess, so a crash fails the
test), on every path (stacked, packed, per-parameter, fused); and accepts what transformers
accepts (numpy scalars, 0-dim tensors, tensor learning rates) with transformers' numbers."""
from __future__ import annotations

import copy
import json
import math
import re
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

from hfopt_adafactor import Adafactor, AdafactorSchedule
from hfopt_adafactor import fused as fused_module
from invalid_cases import Case, check_case, parametrize

tf_opt = pytest.importorskip("transformers.optimization")


FUSED = fused_module.available()  # the extension built at install; fused cases skip without it
FUSED_PARAM = pytest.param(True, marks=pytest.mark.skipif(not FUSED, reason="hfopt_adafactor._C not built"))


def params(*shapes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]


def _make(**kwargs):
    return lambda: Adafactor(params((2, 3)), **kwargs)


def _changed_then_step(key, value, **kwargs):
    """An optimizer stepped once, ``param_groups[0][key] = value``, stepped again."""
    def call():
        ps = params((2, 3))
        opt = Adafactor(ps, **kwargs)
        ps[0].grad = torch.ones(2, 3)
        opt.step()
        opt.param_groups[0][key] = value
        opt.step()
    return call


def _load_group(key, value, **kwargs):
    """``load_state_dict`` of a state dict whose first group has ``key = value``."""
    def call():
        opt = Adafactor(params((2, 3)), **kwargs)
        saved = opt.state_dict()
        saved["param_groups"][0][key] = value
        opt.load_state_dict(saved)
    return call


MANUAL = dict(relative_step=False)  # lr given: relative_step must be off
INVALID_CASES = [
    Case("Adafactor", "lr", "nan", ValueError, r"^lr must be a finite learning rate, got nan$", _make(lr=math.nan, **MANUAL)),
    Case("Adafactor", "lr", "inf", ValueError, r"^lr must be a finite learning rate, got inf$", _make(lr=math.inf, **MANUAL)),
    Case("Adafactor", "lr", "-1.0", ValueError, r"^lr must be a non-negative learning rate, got -1\.0$", _make(lr=-1.0, **MANUAL)),
    Case("Adafactor", "lr", "tensor(nan)", ValueError, r"^lr must be a finite learning rate, got nan$",
         _make(lr=torch.tensor(math.nan), **MANUAL)),
    Case("Adafactor", "lr", "'1e-3'", TypeError, r"^lr must be a real number \(learning rate\), got str '1e-3'$",
         _make(lr="1e-3", **MANUAL)),
    Case("Adafactor", "lr", "tensor([1e-3, 1e-3])", TypeError, r"^lr must be a real number \(learning rate\), got Tensor of shape \(2,\)$",
         _make(lr=torch.tensor([1e-3, 1e-3]), **MANUAL)),
    Case("Adafactor", "lr", "None (relative_step=False)", ValueError, r"`relative_step=False` requires a manual `lr`",
         _make(relative_step=False)),
    Case("Adafactor", "lr", "1e-3 (relative_step=True)", ValueError,
         r"^Cannot combine manual `lr` and `relative_step=True` options$", _make(lr=1e-3)),
    Case("Adafactor", "warmup_init", "True (relative_step=False)", ValueError,
         r"^`warmup_init=True` requires `relative_step=True`$", _make(lr=1e-3, relative_step=False, warmup_init=True)),
    Case("Adafactor", "eps", "1e-3", TypeError, r"^eps must be a pair \(eps1, eps2\), got float 0\.001$", _make(eps=1e-3)),
    Case("Adafactor", "eps", "(1e-30, 1e-3, 0)", TypeError, r"^eps must be a pair \(eps1, eps2\), got tuple \(1e-30, 0\.001, 0\)$", _make(eps=(1e-30, 1e-3, 0))),
    Case("Adafactor", "eps", "(-1e-30, 1e-3)", ValueError, r"^eps\[0\] must be a non-negative number, got -1e-30$",
         _make(eps=(-1e-30, 1e-3))),
    Case("Adafactor", "eps", "(1e-30, -1e-3)", ValueError, r"^eps\[1\] must be a non-negative number, got -0\.001$",
         _make(eps=(1e-30, -1e-3))),
    Case("Adafactor", "eps", "(nan, 1e-3)", ValueError, r"^eps\[0\] must be a finite number, got nan$",
         _make(eps=(math.nan, 1e-3))),
    Case("Adafactor", "eps", "(1e-30, inf)", ValueError, r"^eps\[1\] must be a finite number, got inf$",
         _make(eps=(1e-30, math.inf))),
    Case("Adafactor", "eps", "(1e-30, None)", TypeError, r"^eps\[1\] must be a real number \(number\), got NoneType None$",
         _make(eps=(1e-30, None))),
    Case("Adafactor", "clip_threshold", "0.0", ValueError, r"^clip_threshold must be a positive number, got 0\.0$",
         _make(clip_threshold=0.0)),
    Case("Adafactor", "clip_threshold", "-1.0", ValueError, r"^clip_threshold must be a positive number, got -1\.0$",
         _make(clip_threshold=-1.0)),
    Case("Adafactor", "clip_threshold", "nan", ValueError, r"^clip_threshold must be a finite number, got nan$",
         _make(clip_threshold=math.nan)),
    Case("Adafactor", "clip_threshold", "'1'", TypeError, r"^clip_threshold must be a real number \(number\), got str '1'$",
         _make(clip_threshold="1")),
    Case("Adafactor", "decay_rate", "0.0", ValueError, r"^decay_rate must be a number < 0, got 0\.0$",
         _make(decay_rate=0.0)),
    Case("Adafactor", "decay_rate", "0.8", ValueError, r"^decay_rate must be a number < 0, got 0\.8$",
         _make(decay_rate=0.8)),
    Case("Adafactor", "decay_rate", "-inf", ValueError, r"^decay_rate must be a finite number, got -inf$",
         _make(decay_rate=-math.inf)),
    Case("Adafactor", "beta1", "1.0", ValueError, r"^beta1 must be a number in \[0, 1\), got 1\.0$", _make(beta1=1.0)),
    Case("Adafactor", "beta1", "-0.1", ValueError, r"^beta1 must be a number in \[0, 1\), got -0\.1$", _make(beta1=-0.1)),
    Case("Adafactor", "beta1", "nan", ValueError, r"^beta1 must be a finite number, got nan$", _make(beta1=math.nan)),
    Case("Adafactor", "beta1", "'0.9'", TypeError, r"^beta1 must be a real number \(number\), got str '0\.9'$",
         _make(beta1="0.9")),
    Case("Adafactor", "weight_decay", "-0.1", ValueError, r"^weight_decay must be a non-negative number, got -0\.1$",
         _make(weight_decay=-0.1)),
    Case("Adafactor", "weight_decay", "nan", ValueError, r"^weight_decay must be a finite number, got nan$",
         _make(weight_decay=math.nan)),
    Case("Adafactor", "weight_decay", "None", TypeError, r"^weight_decay must be a real number \(number\), got NoneType None$",
         _make(weight_decay=None)),
    Case("Adafactor", "scale_parameter", "'yes'", TypeError, r"^scale_parameter must be a bool, got str 'yes'$",
         _make(scale_parameter="yes")),
    Case("Adafactor", "relative_step", "None", TypeError, r"^relative_step must be a bool, got NoneType None$",
         _make(relative_step=None)),
    Case("Adafactor", "warmup_init", "1", TypeError, r"^warmup_init must be a bool, got int 1$",
         _make(warmup_init=1)),
    Case("Adafactor", "stochastic_rounding", "'on'", TypeError, r"^stochastic_rounding must be a bool, got str 'on'$",
         _make(stochastic_rounding="on")),
    Case("Adafactor", "stochastic_rounding_seed", "'x'", TypeError,
         r"^stochastic_rounding_seed must be an int, got str 'x'$", _make(stochastic_rounding_seed="x")),
    Case("Adafactor", "min_dim_size_to_factor", "0", ValueError,
         r"^min_dim_size_to_factor must be None or a positive int, got 0$", _make(min_dim_size_to_factor=0)),
    Case("Adafactor", "min_dim_size_to_factor", "2.5", TypeError,
         r"^min_dim_size_to_factor must be an int, got float 2\.5$", _make(min_dim_size_to_factor=2.5)),
    Case("Adafactor", "foreach", "'auto'", TypeError, r"^foreach must be None or a bool, got str 'auto'$",
         _make(foreach="auto")),
    Case("Adafactor", "fused", "1", TypeError, r"^fused must be None or a bool, got int 1$", _make(fused=1)),
    Case("Adafactor", "params", "[p, p] (one group)", ValueError,
         r"parameter 1 of a parameter group is the same tensor as parameter 0 \(shape \(2,\)\)",
         lambda: Adafactor([torch.nn.Parameter(torch.zeros(2))] * 2)),
    Case("Adafactor.add_param_group", "beta1", "2.0", ValueError, r"^beta1 must be a number in \[0, 1\), got 2\.0$",
         lambda: Adafactor(params((2,))).add_param_group({"params": params((3,)), "beta1": 2.0})),
    Case("Adafactor.step (group changed)", "lr", "nan", ValueError, r"^lr must be a finite learning rate, got nan$",
         _changed_then_step("lr", math.nan, lr=1e-3, **MANUAL)),
    Case("Adafactor.step (group changed)", "lr", "-1", ValueError, r"^lr must be a non-negative learning rate, got -1$",
         _changed_then_step("lr", -1, lr=1e-3, **MANUAL)),
    Case("Adafactor.step (group changed)", "weight_decay", "-0.5", ValueError, r"^weight_decay must be a non-negative number, got -0\.5$",
         _changed_then_step("weight_decay", -0.5)),
    Case("Adafactor.step (group changed)", "clip_threshold", "0", ValueError, r"^clip_threshold must be a positive number, got 0$",
         _changed_then_step("clip_threshold", 0)),
    Case("Adafactor.step (group changed)", "decay_rate", "0.8", ValueError, r"^decay_rate must be a number < 0, got 0\.8$",
         _changed_then_step("decay_rate", 0.8)),
    Case("Adafactor.load_state_dict", "param_groups[0]['lr']", "nan", ValueError, r"^lr must be a finite learning rate, got nan$",
         _load_group("lr", math.nan, lr=1e-3, **MANUAL)),
    Case("Adafactor.load_state_dict", "param_groups[0]['beta1']", "1.0", ValueError, r"^beta1 must be a number in \[0, 1\), got 1\.0$",
         _load_group("beta1", 1.0)),
    Case("AdafactorSchedule", "initial_lr", "nan", ValueError, r"^initial_lr must be a finite learning rate, got nan$",
         lambda: AdafactorSchedule(Adafactor(params((2,))), initial_lr=math.nan)),
    Case("AdafactorSchedule", "initial_lr", "-1e-3", ValueError, r"^initial_lr must be a non-negative learning rate, got -0\.001$",
         lambda: AdafactorSchedule(Adafactor(params((2,))), initial_lr=-1e-3)),
    Case("AdafactorSchedule", "initial_lr", "'0.1'", TypeError, r"^initial_lr must be a real number \(learning rate\), got str '0\.1'$",
         lambda: AdafactorSchedule(Adafactor(params((2,))), initial_lr="0.1")),
    Case("AdafactorSchedule", "optimizer", "None", TypeError, r"optimizer must be a torch optimizer, got NoneType",
         lambda: AdafactorSchedule(None)),
]


@parametrize(INVALID_CASES)
def test_invalid_arguments_are_named(case):
    check_case(case)


def _run_both(kwargs_ours, kwargs_theirs=None, shapes=((5, 4), (7,), (6, 5), (6, 5)), steps=3):
    results = []
    for cls, kwargs in ((tf_opt.Adafactor, kwargs_theirs or kwargs_ours), (Adafactor, kwargs_ours)):
        ps = params(*shapes)
        opt = cls(ps, **kwargs)
        for step in range(steps):
            gen = torch.Generator().manual_seed(step)
            for p in ps:
                p.grad = torch.randn(p.shape, generator=gen)
            opt.step()
        results.append(ps)
    return results


@pytest.mark.parametrize("kwargs", [
    dict(relative_step=False, lr=np.float32(1e-3)),
    dict(relative_step=False, lr=np.float64(1e-2), weight_decay=np.float32(0.1), beta1=np.float64(0.9)),
    dict(relative_step=False, lr=torch.tensor(1e-3)),                         # a tensor lr in the group
    dict(relative_step=False, lr=torch.tensor(1e-3), scale_parameter=False, weight_decay=0.1),
    dict(eps=(np.float64(1e-30), torch.tensor(1e-3)), clip_threshold=torch.tensor(1.0), decay_rate=np.float32(-0.8)),
    dict(scale_parameter=np.bool_(False), warmup_init=np.bool_(True)),
], ids=["np-float32-lr", "np-floats", "tensor-lr", "tensor-lr-wd", "tensor-and-np-options", "np-bools"])
def test_numpy_scalars_and_tensors_are_accepted_with_transformers_numbers(kwargs):
    theirs, ours = _run_both(kwargs)
    for p, q in zip(ours, theirs):
        assert torch.equal(p, q)


def test_eps1_none_means_no_eps1():
    ours, plain = _run_both(dict(eps=(None, 1e-3)), dict(eps=(0.0, 1e-3)))[::-1]
    for p, q in zip(ours, plain):
        assert torch.equal(p, q)
    with pytest.raises(TypeError):  # transformers 4.57.6 fails at its first step instead
        _run_both(dict(eps=(0.0, 1e-3)), dict(eps=(None, 1e-3)))


def test_schedule_accepts_numpy_and_tensor_initial_lr():
    for value in (np.float32(1e-3), torch.tensor(1e-3), 0):
        assert float(AdafactorSchedule(Adafactor(params((2,))), initial_lr=value).get_last_lr()[0]) == float(value)


def test_min_dim_and_seed_accept_numpy_integers():
    Adafactor(params((2, 3)), min_dim_size_to_factor=np.int64(2), stochastic_rounding_seed=np.int32(3))


def test_duplicate_parameters_transformers_steps_twice_we_refuse():
    p = torch.nn.Parameter(torch.randn(4, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        upstream = tf_opt.Adafactor([p, p])  # torch only warns ...
    assert any("duplicate parameters" in str(w.message) for w in caught)
    p.grad = torch.ones(4, 3)
    upstream.step()
    assert upstream.state[p]["step"] == 2  # ... and transformers steps it twice per step
    with pytest.raises(ValueError, match="parameter 1 of a parameter group is the same tensor as parameter 0"):
        Adafactor([p, p])
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        Adafactor([{"params": [p]}, {"params": [p]}])  # torch's own check across groups


# -- all-or-nothing steps ----------------------------------------------------------------------
def _snapshot(opt, ps):
    return ([p.detach().clone() for p in ps],
            {i: {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in opt.state[p].items()}
             for i, p in enumerate(ps)})


def _assert_unchanged(opt, ps, snap):
    values, states = snap
    for p, v in zip(ps, values):
        assert torch.equal(p, v)
    for i, p in enumerate(ps):
        now = opt.state[p]
        assert list(now) == list(states[i])
        for k, v in states[i].items():
            assert torch.equal(now[k], v) if isinstance(v, torch.Tensor) else now[k] == v


@pytest.mark.parametrize("options", [dict(), dict(foreach=False),
                                     pytest.param(dict(fused=True), marks=FUSED_PARAM.marks)],
                         ids=["default", "loop", "fused"])
def test_a_bad_second_group_leaves_the_first_untouched(options):
    first, second = params((5, 4), (3,)), params((6, 2), (40000,))
    opt = Adafactor([{"params": first}, {"params": second}], **options)
    for p in first + second:
        p.grad = torch.ones_like(p)
    opt.step()  # every parameter has state now
    everything = first + second
    snap = _snapshot(opt, everything)
    second[0].grad = torch.sparse_coo_tensor([[0], [0]], [1.0], (6, 2), check_invariants=True)
    with pytest.raises(RuntimeError, match="Adafactor does not support sparse gradients."):
        opt.step()
    _assert_unchanged(opt, everything, snap)
    second[0].grad = torch.ones(6, 2)
    opt.state[second[1]]["exp_avg_sq"] = torch.zeros(40001)  # a bad state on the last parameter
    snap = _snapshot(opt, everything)
    with pytest.raises(ValueError, match=r"parameter 3 \(shape \(40000,\).*'exp_avg_sq' has shape \(40001,\)"):
        opt.step()
    _assert_unchanged(opt, everything, snap)


def test_grad_dtype_is_checked_before_anything_changes():
    a, b = params((4, 3), (5,))
    opt = Adafactor([a, b])
    a.grad = torch.ones(4, 3)
    b.grad = torch.ones(5)
    b.grad.data = torch.ones(5, dtype=torch.int64)  # an integer gradient (torch allows it through .data)
    with pytest.raises(TypeError, match=r"the gradient of parameter 1 has dtype torch\.int64"):
        opt.step()
    assert torch.equal(a, params((4, 3), (5,))[0]) and len(opt.state) == 0


@pytest.mark.parametrize("fused", [False, FUSED_PARAM])
@pytest.mark.parametrize("bad, message", [
    (lambda: torch.ones(6), r"the gradient of parameter 1 has shape \(6,\), the parameter \(5,\)"),
], ids=["shape"])
def test_grad_shape_is_checked_before_anything_changes(bad, message, fused):
    # (a gradient on another device needs a second device; none here: check_gradient names both)
    a, b = params((4, 3), (5,))
    opt = Adafactor([{"params": [a]}, {"params": [b]}], fused=fused)
    a.grad = torch.ones(4, 3)
    b.grad = torch.ones(5)
    b.grad.data = bad()  # torch refuses this through p.grad = ..., not through .data
    with pytest.raises(ValueError, match=message):
        opt.step()
    assert torch.equal(a, params((4, 3), (5,))[0]) and len(opt.state) == 0


# -- state: checked at load and before the kernel, in a subprocess ------------------------------
_STATE_SCRIPT = textwrap.dedent(r"""
    import json, sys, torch
    from hfopt_adafactor import Adafactor

    SHAPES = [(6, 5), (6, 5), (3,), (7,), (300, 260), (70000,), (4, 6)]
    def build(options):
        gen = torch.Generator().manual_seed(0)
        ps = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in SHAPES]
        opt = Adafactor(ps, **options)
        for p in ps:
            p.grad = torch.ones_like(p)
        return ps, opt

    def mutate(sd, index, case):
        s = sd["state"][index]
        if case == "row-shape":
            s["exp_avg_sq_row"] = torch.zeros(s["exp_avg_sq_row"].numel() + 1)
        elif case == "col-equal-numel":  # a (6, 5) parameter's col saved as (5, 1): same numel
            s["exp_avg_sq_col"] = s["exp_avg_sq_col"].reshape(-1, 1)
        elif case == "sq-equal-numel":
            s["exp_avg_sq"] = s["exp_avg_sq"].reshape(1, -1)
        elif case == "sq-shape":
            s["exp_avg_sq"] = torch.zeros(s["exp_avg_sq"].numel() * 2)
        elif case == "exp_avg-transposed":
            s["exp_avg"] = s["exp_avg"].reshape(tuple(reversed(s["exp_avg"].shape)))
        elif case == "missing-col":
            del s["exp_avg_sq_col"]
        elif case == "missing-second-moment":
            del s["exp_avg_sq"]
        elif case == "missing-exp_avg":
            del s["exp_avg"]
        elif case == "missing-state":
            sd["state"][index] = {"step": 3}
        elif case == "step-negative":
            s["step"] = -1
        elif case == "step-float":
            s["step"] = 2.5
        elif case == "step-overflow":
            s["step"] = 2**63 - 1
        elif case == "factored-vector":
            s["exp_avg_sq_row"], s["exp_avg_sq_col"] = torch.zeros(()), torch.zeros(3)
            del s["exp_avg_sq"]

    results = []
    for spec in json.loads(sys.argv[1]):
        ps, opt = build(spec["options"])
        opt.step()
        sd = opt.state_dict()
        mutate(sd, spec["index"], spec["case"])
        ps2, fresh = build(spec["options"])
        before = [p.detach().clone() for p in ps2]
        try:
            fresh.load_state_dict(sd)
            outcome = "loaded"
        except (ValueError, TypeError) as error:
            outcome = type(error).__name__ + ": " + str(error)
        # the state untouched by the failed load; a step works and changes every parameter
        fresh.step()
        stepped = all(not torch.equal(a, b) for a, b in zip(ps2, before))
        # the same bad state put there directly is caught before the step changes anything
        ps3, direct = build(spec["options"])
        direct.step()
        sd3 = direct.state_dict()
        mutate(sd3, spec["index"], spec["case"])
        for p, (k, v) in zip(ps3, sorted(sd3["state"].items())):
            direct.state[p] = v
        before3 = [p.detach().clone() for p in ps3]
        try:
            direct.step()
            direct_outcome = "stepped"
        except (ValueError, TypeError) as error:
            direct_outcome = type(error).__name__ + ": " + str(error)
        untouched = all(torch.equal(a, b) for a, b in zip(ps3, before3))
        results.append({"load": outcome, "direct": direct_outcome, "stepped": stepped, "untouched": untouched})
    print(json.dumps(results))
""")

# (case, parameter index, options, the message's expected part)
STATE_CASES = [
    ("row-shape", 0, {}, r"parameter 0 \(shape \(6, 5\), torch\.float32\): 'exp_avg_sq_row' has shape \(7,\) "
                         r"\(torch\.float32\), expected \(6,\)"),
    ("row-shape", 4, {"fused": True}, r"parameter 4 \(shape \(300, 260\).*'exp_avg_sq_row' has shape \(301,\)"),
    ("col-equal-numel", 1, {}, r"parameter 1 \(shape \(6, 5\).*'exp_avg_sq_col' has shape \(5, 1\).*expected \(5,\)"),
    ("col-equal-numel", 1, {"fused": True}, r"'exp_avg_sq_col' has shape \(5, 1\)"),
    ("col-equal-numel", 0, {"foreach": False}, r"parameter 0 .*'exp_avg_sq_col' has shape \(5, 1\)"),
    ("sq-equal-numel", 3, {}, r"parameter 3 \(shape \(7,\).*'exp_avg_sq' has shape \(1, 7\).*expected \(7,\)"),
    ("sq-equal-numel", 6, {"min_dim_size_to_factor": 8}, r"parameter 6 \(shape \(4, 6\).*'exp_avg_sq' has shape \(1, 24\)"),
    ("sq-shape", 5, {"fused": True}, r"parameter 5 \(shape \(70000,\).*'exp_avg_sq' has shape \(140000,\)"),
    ("sq-shape", 2, {"foreach": False}, r"parameter 2 \(shape \(3,\).*'exp_avg_sq' has shape \(6,\)"),
    ("exp_avg-transposed", 6, {"beta1": 0.9}, r"parameter 6 \(shape \(4, 6\).*'exp_avg' has shape \(6, 4\)"),
    ("exp_avg-transposed", 4, {"beta1": 0.9, "fused": True}, r"parameter 4 .*'exp_avg' has shape \(260, 300\)"),
    ("missing-col", 4, {}, r"parameter 4 .*missing 'exp_avg_sq_col'"),
    ("missing-second-moment", 5, {"fused": True}, r"parameter 5 .*missing the second moment"),
    ("missing-exp_avg", 0, {"beta1": 0.9}, r"parameter 0 .*missing 'exp_avg' \(the group has beta1\)"),
    ("missing-state", 2, {"fused": True}, r"parameter 2 .*missing the second moment"),
    ("step-negative", 3, {}, r"parameter 3 .*'step' must be an int >= 0, got int -1"),
    ("step-float", 0, {"fused": True}, r"parameter 0 .*'step' must be an int >= 0, got float 2\.5"),
    ("step-overflow", 1, {"fused": True}, r"parameter 1 .*'step' 9223372036854775807 is too large"),
    ("step-overflow", 2, {}, r"parameter 2 .*'step' 9223372036854775807 is too large"),
    ("factored-vector", 2, {}, r"parameter 2 \(shape \(3,\).*needs a parameter with 2 or more dimensions"),
]


def test_mismatched_state_is_refused_on_every_path_in_a_subprocess():
    cases = [case for case in STATE_CASES if FUSED or not case[2].get("fused")]
    specs = [{"case": c, "index": i, "options": o} for c, i, o, _ in cases]
    done = subprocess.run([sys.executable, "-c", _STATE_SCRIPT, json.dumps(specs)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, f"the subprocess died (rc {done.returncode}):\n{done.stderr[-3000:]}"
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for (case, index, options, pattern), result in zip(cases, results):
        label = f"{case} #{index} {options}"
        assert result["load"].startswith("ValueError: "), (label, result)
        assert re.search(pattern, result["load"]), (label, result["load"])
        assert result["stepped"], label  # the failed load kept the optimizer usable
        assert result["direct"].startswith("ValueError: ") and re.search(pattern, result["direct"]), (label, result)
        assert result["untouched"], label


def test_integer_and_complex_state_tensors_are_refused():
    p = torch.nn.Parameter(torch.randn(4, 3))
    opt = Adafactor([p])
    p.grad = torch.ones(4, 3)
    opt.step()
    opt.state[p]["exp_avg_sq_row"] = torch.zeros(4, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"parameter 0 .*'exp_avg_sq_row' has dtype torch\.int64 \(shape \(4,\)\)"):
        opt.step()
    opt.state[p]["exp_avg_sq_row"] = torch.zeros(4, dtype=torch.complex64)
    with pytest.raises(ValueError, match=r"'exp_avg_sq_row' has dtype torch\.complex64"):
        opt.step()


@pytest.mark.skipif(not FUSED, reason="fused=True unavailable (no C compiler)")
def test_transformers_checkpoint_still_loads_and_resumes_on_the_fused_path():
    shapes = [(6, 5), (7,), (300, 260)]
    theirs_p, ours_p = params(*shapes), params(*shapes)
    theirs = tf_opt.Adafactor(theirs_p, beta1=0.9)
    for p in theirs_p:
        p.grad = torch.randn(p.shape)
    theirs.step()
    ours = Adafactor(ours_p, beta1=0.9, fused=True)
    ours.load_state_dict(copy.deepcopy(theirs.state_dict()))  # a checkpoint: no tensors shared
    for p, q in zip(ours_p, theirs_p):
        p.data.copy_(q.data)
        p.grad = q.grad.clone()
    ours.step()
    theirs.step()
    for p, q in zip(ours_p, theirs_p):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
        assert ours.state[p]["step"] == 2
