"""hfopt AdamW: every argument validated, state checked before any kernel, all-or-nothing steps.

Checkpoints whose state does not match the parameters are loaded in a subprocess, so a kernel that
corrupts memory fails the test instead of killing pytest.
"""
from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from hfopt_adamw import AdamW
from invalid_cases import Case, check_case, parametrize

IMPLEMENTATIONS = {"fused": dict(fused=True), "foreach": dict(foreach=True), "for-loop": dict(foreach=False),
                   "auto": {}}


def _p(*shape):
    return torch.nn.Parameter(torch.ones(shape or (2,)))


def _make(**kwargs):
    return lambda: AdamW([_p()], **kwargs)


def _add_group(**options):
    return lambda: AdamW([_p()]).add_param_group({"params": [_p()], **options})


def _stepped(seed=0):
    """A two-layer model and an AdamW stepped twice on it (checkpoint source)."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Linear(6, 2))
    opt = AdamW(model.parameters(), lr=0.1, weight_decay=0.01)
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(3, 4)).pow(2).sum().backward()
        opt.step()
    return model, opt


def _load_mutated(mutate):
    def call():
        _, opt = _stepped()
        saved = copy.deepcopy(opt.state_dict())
        mutate(saved)
        _, target = _stepped(seed=1)
        target.load_state_dict(saved)
    return call


def _set(path, value):
    """``mutate`` for :func:`_load_mutated`: ``saved[path[0]][path[1]]... = value``."""
    def mutate(saved):
        node = saved
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def _complex_checkpoint_with_real_state():
    # torch's loader casts state to a floating parameter's dtype, but not to a complex one's
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.complex64))
    opt = AdamW([p])
    p.grad = torch.ones(3, dtype=torch.complex64)
    opt.step()
    saved = copy.deepcopy(opt.state_dict())
    saved["state"][0]["exp_avg"] = torch.zeros(3)
    AdamW([p]).load_state_dict(saved)


def _pop(path):
    def mutate(saved):
        node = saved
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return mutate


NAN, INF = float("nan"), float("inf")
_REAL = r"must be a real number"

INVALID_CASES = [
    Case("AdamW", "lr", "-1.0", ValueError, r"Invalid learning rate: -1.0 - should be >= 0.0 \(lr=-1.0\)",
         _make(lr=-1.0)),
    Case("AdamW", "lr", "nan", ValueError, r"Invalid learning rate: nan - should be finite and >= 0.0 \(lr=nan\)",
         _make(lr=NAN)),
    Case("AdamW", "lr", "inf", ValueError, r"learning rate: inf - should be finite.*lr=inf", _make(lr=INF)),
    Case("AdamW", "lr", "'1e-3'", TypeError, r"lr " + _REAL + r".*got '1e-3' \(str\)", _make(lr="1e-3")),
    Case("AdamW", "lr", "None", TypeError, r"lr " + _REAL + r".*got None", _make(lr=None)),
    Case("AdamW", "lr", "True", TypeError, r"lr " + _REAL + r".*got True \(bool\)", _make(lr=True)),
    Case("AdamW", "lr", "tensor([0.1, 0.2])", TypeError, r"lr " + _REAL + r".*shape \(2,\)",
         _make(lr=torch.tensor([0.1, 0.2]))),
    Case("AdamW", "lr", "tensor(-0.5)", ValueError, r"Invalid learning rate: -0.5.*lr=tensor\(-0.5000\)",
         _make(lr=torch.tensor(-0.5))),
    Case("AdamW", "lr", "np.float32(nan)", ValueError, r"Invalid learning rate: nan", _make(lr=np.float32(NAN))),
    Case("AdamW", "betas", "0.9", TypeError, r"betas must be a pair \(beta1, beta2\), got 0.9", _make(betas=0.9)),
    Case("AdamW", "betas", "(0.9,)", TypeError, r"betas must be a pair.*\(0.9,\)", _make(betas=(0.9,))),
    Case("AdamW", "betas", "(0.9, 0.99, 0.999)", TypeError, r"betas must be a pair.*3 values",
         _make(betas=(0.9, 0.99, 0.999))),
    Case("AdamW", "betas", "'ab'", TypeError, r"betas must be a pair.*'ab'", _make(betas="ab")),
    Case("AdamW", "betas", "(1.0, 0.999)", ValueError,
         r"Invalid beta parameter: 1.0 - should be in \[0.0, 1.0\) \(betas\[0\]=1.0\)", _make(betas=(1.0, 0.999))),
    Case("AdamW", "betas", "(-0.1, 0.999)", ValueError, r"Invalid beta parameter: -0.1.*betas\[0\]=-0.1",
         _make(betas=(-0.1, 0.999))),
    Case("AdamW", "betas", "(0.9, nan)", ValueError, r"Invalid beta parameter: nan.*betas\[1\]=nan",
         _make(betas=(0.9, NAN))),
    Case("AdamW", "betas", "(0.9, inf)", ValueError, r"Invalid beta parameter: inf.*betas\[1\]=inf",
         _make(betas=(0.9, INF))),
    Case("AdamW", "betas", "(0.9, '0.99')", TypeError, r"betas\[1\] " + _REAL + r".*'0.99'",
         _make(betas=(0.9, "0.99"))),
    Case("AdamW", "eps", "-1e-08", ValueError, r"Invalid epsilon value: -1e-08 - should be >= 0.0 \(eps=-1e-08\)",
         _make(eps=-1e-8)),
    Case("AdamW", "eps", "nan", ValueError, r"Invalid epsilon value: nan - should be finite.*eps=nan",
         _make(eps=NAN)),
    Case("AdamW", "eps", "inf", ValueError, r"Invalid epsilon value: inf.*eps=inf", _make(eps=INF)),
    Case("AdamW", "eps", "[1e-6]", TypeError, r"eps " + _REAL + r".*\[1e-06\] \(list\)", _make(eps=[1e-6])),
    Case("AdamW", "weight_decay", "-0.1", ValueError,
         r"Invalid weight_decay value: -0.1 - should be >= 0.0 \(weight_decay=-0.1\)", _make(weight_decay=-0.1)),
    Case("AdamW", "weight_decay", "nan", ValueError, r"Invalid weight_decay value: nan.*weight_decay=nan",
         _make(weight_decay=NAN)),
    Case("AdamW", "weight_decay", "-inf", ValueError, r"Invalid weight_decay value: -inf.*weight_decay=-inf",
         _make(weight_decay=-INF)),
    Case("AdamW", "weight_decay", "'0.01'", TypeError, r"weight_decay " + _REAL + r".*'0.01'",
         _make(weight_decay="0.01")),
    Case("AdamW", "correct_bias", "1", TypeError, r"correct_bias must be a bool, got 1 \(int\)",
         _make(correct_bias=1)),
    Case("AdamW", "correct_bias", "'False'", TypeError, r"correct_bias must be a bool, got 'False'",
         _make(correct_bias="False")),
    Case("AdamW", "no_deprecation_warning", "'yes'", TypeError, r"no_deprecation_warning must be a bool.*'yes'",
         _make(no_deprecation_warning="yes")),
    Case("AdamW", "foreach", "1", TypeError, r"foreach must be True, False or None, got 1 \(int\)",
         _make(foreach=1)),
    Case("AdamW", "fused", "'yes'", TypeError, r"fused must be True, False or None, got 'yes'", _make(fused="yes")),
    Case("AdamW", "fused, foreach", "True, True", RuntimeError, r"`fused` and `foreach` cannot be `True` together",
         _make(fused=True, foreach=True)),
    Case("AdamW", "fused", "True (int64 parameters)", RuntimeError, r"`fused=True` requires floating point",
         lambda: AdamW([torch.zeros(2, dtype=torch.int64)], fused=True)),
    Case("AdamW", "params", "[]", ValueError, r"optimizer got an empty parameter list", lambda: AdamW([])),
    Case("AdamW", "params", "5", TypeError,
         r"^params must be an iterable of tensors or of dicts \(parameter groups\), got int 5$", lambda: AdamW(5)),
    Case("AdamW", "params", "{p}", TypeError, r"params must be an ordered collection.*set",
         lambda: AdamW({_p()})),
    Case("AdamW", "params", "[1.0]", TypeError, r"optimizer can only optimize Tensors, but one of the params is float",
         lambda: AdamW([1.0])),
    Case("AdamW", "params", "[p * 2] (not a leaf)", ValueError, r"can't optimize a non-leaf Tensor",
         lambda: AdamW([_p() * 2])),
    Case("AdamW", "params", "[p, p]", ValueError,
         r"param group 0 lists the same parameter twice \(positions 0 and 1\)",
         lambda: (lambda p: AdamW([p, p]))(_p())),
    Case("AdamW.add_param_group", "lr", "-2.0", ValueError, r"Invalid learning rate: -2.0.*param group 1: lr=-2.0",
         _add_group(lr=-2.0)),
    Case("AdamW.add_param_group", "betas", "(0.9, 1.0)", ValueError,
         r"Invalid beta parameter: 1.0.*param group 1: betas\[1\]=1.0", _add_group(betas=(0.9, 1.0))),
    Case("AdamW.add_param_group", "eps", "nan", ValueError, r"param group 1: eps=nan", _add_group(eps=NAN)),
    Case("AdamW.add_param_group", "weight_decay", "inf", ValueError, r"param group 1: weight_decay=inf",
         _add_group(weight_decay=INF)),
    Case("AdamW.add_param_group", "correct_bias", "None", TypeError,
         r"param group 1: correct_bias must be a bool, got None", _add_group(correct_bias=None)),
    Case("AdamW.add_param_group", "fused", "'no'", TypeError, r"param group 1: fused must be True, False or None",
         _add_group(fused="no")),
    Case("AdamW.add_param_group", "param_group", "[p]", TypeError, r"param_group must be a dict, got list",
         lambda: AdamW([_p()]).add_param_group([_p()])),
    Case("AdamW.add_param_group", "params", "[q, q]", ValueError,
         r"param group 1 lists the same parameter twice \(positions 0 and 1\)",
         lambda: (lambda q: AdamW([_p()]).add_param_group({"params": [q, q]}))(_p())),
    Case("AdamW.load_state_dict", "state[0]['exp_avg']", "zeros(5, 4) for a (6, 4) parameter", ValueError,
         r"state 'exp_avg' of parameter 0 \(param group 0\) does not match the parameter: "
         r"exp_avg shape \(5, 4\).*parameter shape \(6, 4\)",
         _load_mutated(_set(("state", 0, "exp_avg"), torch.zeros(5, 4)))),
    Case("AdamW.load_state_dict", "state[0]['exp_avg_sq']", "zeros(4, 6) for a (6, 4) parameter (same numel)",
         ValueError, r"state 'exp_avg_sq' of parameter 0 .*exp_avg_sq shape \(4, 6\).*parameter shape \(6, 4\)",
         _load_mutated(_set(("state", 0, "exp_avg_sq"), torch.zeros(4, 6)))),
    Case("AdamW.load_state_dict", "state[2]", "without 'exp_avg'", ValueError,
         r"state of parameter 2 \(param group 0\) lacks 'exp_avg'", _load_mutated(_pop(("state", 2, "exp_avg")))),
    Case("AdamW.load_state_dict", "state[3]", "without 'step'", ValueError,
         r"state of parameter 3 \(param group 0\) lacks 'step'", _load_mutated(_pop(("state", 3, "step")))),
    Case("AdamW.load_state_dict", "state[1]['exp_avg']", "'zeros'", TypeError,
         r"state 'exp_avg' of parameter 1 \(param group 0\) must be a tensor, got str",
         _load_mutated(_set(("state", 1, "exp_avg"), "zeros"))),
    Case("AdamW.load_state_dict", "state[1]['step']", "tensor(nan)", ValueError,
         r"state 'step' of parameter 1 \(param group 0\) is nan; it must be a finite count >= 0",
         _load_mutated(_set(("state", 1, "step"), torch.tensor(NAN)))),
    Case("AdamW.load_state_dict", "state[1]['step']", "-3", ValueError, r"'step' of parameter 1 .* is -3;",
         _load_mutated(_set(("state", 1, "step"), -3))),
    Case("AdamW.load_state_dict", "state[1]['step']", "2**53 (a transformers int count)", ValueError,
         r"'step' of parameter 1 \(param group 0\) is 9007199254740992; step counts above 2\*\*53 - 1",
         _load_mutated(_set(("state", 1, "step"), 2 ** 53))),
    Case("AdamW.load_state_dict", "state[1]['step']", "tensor(2**63 - 1)", ValueError,
         r"'step' of parameter 1 \(param group 0\) is 9223372036854775807; step counts above 2\*\*53 - 1",
         _load_mutated(_set(("state", 1, "step"), torch.tensor(2 ** 63 - 1)))),
    Case("AdamW.load_state_dict", "state[1]['step']", "inf", ValueError, r"'step' of parameter 1 .* is inf",
         _load_mutated(_set(("state", 1, "step"), INF))),
    Case("AdamW.load_state_dict", "state[1]['step']", "None", TypeError,
         r"'step' of parameter 1 .* must be a number or a one-element real tensor, got None",
         _load_mutated(_set(("state", 1, "step"), None))),
    Case("AdamW.load_state_dict", "state[1]['step']", "tensor([1., 2.])", TypeError,
         r"'step' of parameter 1 .* must be a number or a one-element real tensor, got a tensor of shape \(2,\)",
         _load_mutated(_set(("state", 1, "step"), torch.tensor([1.0, 2.0])))),
    Case("AdamW.load_state_dict", "state[0]['exp_avg']", "float32 zeros for a complex64 parameter", ValueError,
         r"state 'exp_avg' of parameter 0 .*dtype torch.float32.*parameter shape \(3,\), dtype torch.complex64",
         lambda: _complex_checkpoint_with_real_state()),
    Case("AdamW.load_state_dict", "param_groups[0]['lr']", "nan", ValueError,
         r"loaded param group 0: lr=nan", _load_mutated(_set(("param_groups", 0, "lr"), NAN))),
    Case("AdamW.load_state_dict", "param_groups[0]['betas']", "(0.9, 1.5)", ValueError,
         r"loaded param group 0: betas\[1\]=1.5", _load_mutated(_set(("param_groups", 0, "betas"), (0.9, 1.5)))),
]


# -- the public functional implementations check their lists too ------------------------------------

def _functional_call(name, **changes):
    import hfopt_adamw

    def call():
        p = torch.ones(4, 3)
        lists = dict(params=[p], grads=[torch.ones(4, 3)], exp_avgs=[torch.zeros(4, 3)], exp_avg_sqs=[torch.zeros(4, 3)])
        lists.update({k: v for k, v in changes.items() if k in lists})
        count = changes.get("step", 1)
        step = dict(steps=[count] * len(lists["params"])) if name == "adamw_single_tensor" else dict(step=count)
        getattr(hfopt_adamw, name)(*lists.values(), *step.values(), lr=0.1, beta1=0.9, beta2=0.999, eps=1e-6,
                                   weight_decay=0.0)
    return call


_FUNCTIONS = ["adamw_fused", "adamw_foreach", "adamw_single_tensor"]
_FUNCTIONAL_CASES = [
    Case(f"hfopt_adamw.{name}", argument, value, error, match, _functional_call(name, **change))
    for name in _FUNCTIONS
    for argument, value, error, match, change in [
        ("exp_avgs", "[zeros(2)] for a (4, 3) parameter", ValueError,
         r"exp_avgs\[0\] does not match params\[0\]: shape \(2,\).*vs shape \(4, 3\)", dict(exp_avgs=[torch.zeros(2)])),
        ("exp_avg_sqs", "[zeros(3, 4)] (same numel)", ValueError, r"exp_avg_sqs\[0\] does not match params\[0\]",
         dict(exp_avg_sqs=[torch.zeros(3, 4)])),
        ("grads", "[ones(4, 3, dtype=float64)]", ValueError, r"grads\[0\] does not match.*torch.float64",
         dict(grads=[torch.ones(4, 3, dtype=torch.float64)])),
        ("grads", "[]", ValueError, r"one entry per parameter, got lengths.*'grads': 0", dict(grads=[])),
        ("step", "0", ValueError, r"step.* must be a finite step count > 0.*got 0", dict(step=0)),
        ("step", "nan", ValueError, r"step.* must be a finite step count > 0.*got nan", dict(step=float("nan"))),
    ]
]

INVALID_CASES += _FUNCTIONAL_CASES


@parametrize(INVALID_CASES)
def test_invalid_input_is_named(case):
    check_case(case)


def test_a_rejected_load_keeps_the_previous_state_and_groups():
    model, opt = _stepped()
    before = copy.deepcopy(opt.state_dict())
    state, groups = opt.state, opt.param_groups
    saved = copy.deepcopy(before)
    saved["state"][3]["exp_avg"] = torch.zeros(7)
    saved["param_groups"][0]["lr"] = 0.5
    with pytest.raises(ValueError, match="parameter 3"):
        opt.load_state_dict(saved)
    assert opt.state is state and opt.param_groups is groups and opt.param_groups[0]["lr"] == 0.1
    _assert_state_equal(opt.state_dict(), before)


# -- accepted inputs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("kind", ["numpy", "0-d tensor", "1-element tensor", "0-d numpy array", "python int"])
def test_numpy_and_tensor_numbers_give_the_float_numbers(impl, kind):
    convert = {"numpy": np.float64, "0-d tensor": torch.tensor, "1-element tensor": lambda x: torch.tensor([x]),
               "0-d numpy array": np.array, "python int": lambda x: x}[kind]
    values = dict(lr=0.5, betas=(0.5, 0.75), eps=0.25, weight_decay=0.125) if kind != "python int" else \
        dict(lr=1, betas=(0, 0), eps=1, weight_decay=0)
    converted = dict(lr=convert(values["lr"]), betas=tuple(map(convert, values["betas"])),
                     eps=convert(values["eps"]), weight_decay=convert(values["weight_decay"]))
    a, b = torch.nn.Parameter(torch.linspace(-1, 1, 6)), torch.nn.Parameter(torch.linspace(-1, 1, 6))
    opt_a = AdamW([a], **converted, **IMPLEMENTATIONS[impl])
    opt_b = AdamW([b], lr=float(values["lr"]), betas=tuple(map(float, values["betas"])), eps=float(values["eps"]),
                  weight_decay=float(values["weight_decay"]), **IMPLEMENTATIONS[impl])
    for t in range(3):
        a.grad = b.grad = torch.linspace(-0.5, 0.5, 6) * (t + 1)
        opt_a.step(), opt_b.step()
    assert torch.equal(a, b)


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
def test_tensor_lr_updated_in_place_by_a_scheduler_on_every_path(impl):
    # torch's schedulers fill a tensor lr in place; every path (the fused one computes its step
    # size on the host) must read the current value, and give the numbers of a float lr.
    a, b = torch.nn.Parameter(torch.linspace(-1, 1, 8)), torch.nn.Parameter(torch.linspace(-1, 1, 8))
    opt_a = AdamW([a], lr=torch.tensor(0.1), weight_decay=0.1, **IMPLEMENTATIONS[impl])
    opt_b = AdamW([b], lr=0.1, weight_decay=0.1, **IMPLEMENTATIONS[impl])
    lam = lambda step: 1.0 / (step + 1)  # noqa: E731
    sched_a = torch.optim.lr_scheduler.LambdaLR(opt_a, lam)
    sched_b = torch.optim.lr_scheduler.LambdaLR(opt_b, lam)
    for t in range(4):
        a.grad = b.grad = torch.linspace(-0.5, 0.5, 8) * (t + 1)
        opt_a.step(), opt_b.step()
        sched_a.step(), sched_b.step()
        assert isinstance(opt_a.param_groups[0]["lr"], torch.Tensor)
        assert opt_a.param_groups[0]["lr"].item() == pytest.approx(opt_b.param_groups[0]["lr"], rel=1e-7)
    # the tensor lr is float32: allow its rounding
    assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)


def test_checkpoints_of_torch_adam_variants_still_load():
    model, _ = _stepped()
    for cls, kwargs in ((torch.optim.Adam, dict(amsgrad=True)), (torch.optim.AdamW, dict(foreach=False)),
                        (torch.optim.AdamW, dict(fused=True))):
        theirs = cls(model.parameters(), lr=0.01, **kwargs)
        model(torch.randn(2, 4)).sum().backward()
        theirs.step()
        ours = AdamW(model.parameters(), lr=0.01)
        ours.load_state_dict(theirs.state_dict())  # extra keys (max_exp_avg_sq, amsgrad, ...) are fine
        ours.step()
        assert all(ours.state[p]["step"].item() == 2 for p in model.parameters())


# -- duplicates ------------------------------------------------------------------------------------

def test_duplicate_parameters_are_rejected_where_torch_only_warns():
    p = _p(3)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        torch.optim.AdamW([p, p])
    with pytest.raises(ValueError, match="lists the same parameter twice"):
        AdamW([p, p])
    with pytest.raises(ValueError, match="positions 0 and 2"):
        AdamW([{"params": [("w", p), ("b", _p()), ("w2", p)]}])
    opt = AdamW([_p()])
    with pytest.raises(ValueError, match="param group 1 lists the same parameter twice"):
        opt.add_param_group({"params": [p, p]})
    assert len(opt.param_groups) == 1
    AdamW([{"params": [p]}, {"params": [_p()]}])  # one parameter per listing is fine


def test_transformers_4_57_6_has_no_adamw_to_differ_from():
    # The duplicate rule is a deliberate difference: transformers 4.57.6 (the version the API
    # follows) no longer ships AdamW, and its last AdamW (<= 4.49) stepped a listed-twice parameter
    # twice with two step counts, silently. Rejecting it means hfopt never gives other numbers silently.
    transformers = pytest.importorskip("transformers")
    assert transformers.__version__ == "4.57.6"
    assert not hasattr(transformers, "AdamW")
    import transformers.optimization as optimization
    assert not hasattr(optimization, "AdamW")


# -- all-or-nothing steps --------------------------------------------------------------------------

def _snapshot(opt, params):
    return ([p.detach().clone() for p in params], copy.deepcopy(opt.state_dict()), len(opt.state))


def _assert_state_equal(a, b):
    assert a["state"].keys() == b["state"].keys()
    for key in a["state"]:
        sa, sb = a["state"][key], b["state"][key]
        assert sa.keys() == sb.keys()
        for name in sa:
            x, y = sa[name], sb[name]
            if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) and x.shape == y.shape \
                    and x.device.type != "meta":
                assert torch.equal(x, y), (key, name)
            else:
                assert type(x) is type(y) and (not isinstance(x, torch.Tensor) or x.shape == y.shape), (key, name)


def _two_groups(impl):
    """Group 0 (stepped once, plus a fresh parameter with no state yet) and group 1."""
    a, fresh, b = _p(3), _p(2), _p(4)
    opt = AdamW([{"params": [a, fresh]}, {"params": [b], "lr": 0.05}], lr=0.1, weight_decay=0.1,
                **IMPLEMENTATIONS[impl])
    a.grad, b.grad = torch.full((3,), 0.5), torch.full((4,), -0.5)
    opt.step()
    a.grad, fresh.grad, b.grad = torch.full((3,), 0.25), torch.full((2,), 1.0), torch.full((4,), 0.25)
    return opt, (a, fresh, b)


def _sparse_grad(opt, params):
    params[2].grad = torch.sparse_coo_tensor([[0]], [1.0], (4,), check_invariants=True)


def _replaced_state(opt, params):
    opt.state[params[2]]["exp_avg"] = torch.zeros(5)


def _state_dtype(opt, params):
    opt.state[params[2]]["exp_avg_sq"] = torch.zeros(4, dtype=torch.float64)


def _state_device(opt, params):
    opt.state[params[2]]["exp_avg"] = torch.zeros(4, device="meta")


def _nan_lr(opt, params):
    opt.param_groups[1]["lr"] = float("nan")


def _negative_step(opt, params):
    opt.state[params[2]]["step"] = torch.tensor(-1.0)


def _swapped_data(opt, params):
    params[2].data = torch.ones(6)  # the parameter changed shape under its gradient and state


def _half_data(opt, params):
    params[2].data = params[2].data.half()  # model.half() after the optimizer was built


def _missing_step(opt, params):
    del opt.state[params[2]]["step"]


FAILURES = {
    "sparse gradient": (_sparse_grad, RuntimeError, r"Adam does not support sparse gradients.*parameter 2"),
    "replaced state of another shape": (_replaced_state, ValueError, r"'exp_avg' of parameter 2 .*shape \(5,\)"),
    "state of another dtype": (_state_dtype, ValueError, r"'exp_avg_sq' of parameter 2 .*torch.float64"),
    "state on another device": (_state_device, ValueError, r"'exp_avg' of parameter 2 .*device meta"),
    "nan lr set after construction": (_nan_lr, ValueError, r"param group 1: lr=nan"),
    "negative step": (_negative_step, ValueError, r"'step' of parameter 2 .* is -1.0"),
    "missing step": (_missing_step, ValueError, r"parameter 2 .*lacks 'step'"),
    "parameter data swapped to another shape": (_swapped_data, ValueError, r"parameter 2 .*parameter shape \(6,\)"),
    "parameter converted to float16": (_half_data, ValueError, r"parameter 2 .*dtype torch.float16"),
}


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failing_step_changes_nothing(impl, failure):
    opt, params = _two_groups(impl)
    assert id(opt.param_groups[1]) in opt._plans  # group 1 would reuse its checked buckets: the checks must see through
    breaker, error, match = FAILURES[failure]
    breaker(opt, params)
    before = _snapshot(opt, params)
    steps_before = [opt.state[p].get("step") for p in params if p in opt.state]
    with pytest.raises(error, match=match):
        opt.step()
    after = _snapshot(opt, params)
    for x, y in zip(before[0], after[0]):
        assert x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y)
    _assert_state_equal(after[1], before[1])
    assert after[2] == before[2] == 2  # the fresh parameter of group 0 got no state either
    assert [opt.state[p].get("step") for p in params if p in opt.state] == steps_before


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
def test_a_step_after_the_cause_is_fixed_is_a_normal_step(impl):
    opt, (a, fresh, b) = _two_groups(impl)
    b.grad = torch.sparse_coo_tensor([[0]], [1.0], (4,), check_invariants=True)
    with pytest.raises(RuntimeError):
        opt.step()
    b.grad = torch.full((4,), 0.25)
    opt.step()
    assert [opt.state[p]["step"].item() for p in (a, fresh, b)] == [2.0, 1.0, 2.0]
    reference, (ra, rfresh, rb) = _two_groups(impl)
    reference.step()
    for x, y in zip((a, fresh, b), (ra, rfresh, rb)):
        assert torch.equal(x, y)


# -- mismatched checkpoints, every path, in a subprocess ----------------------------------------------

_CHECKPOINT_SCRIPT = textwrap.dedent('''
    import copy, json, sys
    import torch
    from hfopt_adamw import AdamW

    def stepped(impl, seed):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.Linear(64, 16))
        opt = AdamW(model.parameters(), lr=0.1, **impl)
        model(torch.randn(4, 16)).sum().backward()
        opt.step()
        return model, opt

    def mutations():
        yield "different shape", lambda s: s["state"][0].__setitem__("exp_avg", torch.zeros(8, 16))
        yield "equal numel, other shape", lambda s: s["state"][2].__setitem__("exp_avg_sq", torch.zeros(64, 16))
        yield "missing exp_avg", lambda s: s["state"][1].pop("exp_avg")
        yield "missing exp_avg_sq", lambda s: s["state"][1].pop("exp_avg_sq")
        yield "missing step", lambda s: s["state"][3].pop("step")
        yield "much smaller state", lambda s: s["state"][0].__setitem__("exp_avg", torch.zeros(1))

    results = {}
    for name, impl in json.loads(sys.argv[1]).items():
        for label, mutate in mutations():
            _, source = stepped(impl, 0)
            saved = copy.deepcopy(source.state_dict())
            mutate(saved)
            model, opt = stepped(impl, 1)
            # 1. through load_state_dict
            try:
                opt.load_state_dict(saved)
                outcome = "loaded"
            except (ValueError, TypeError) as error:
                outcome = f"{type(error).__name__}: {error}"
            # 2. the same state set by hand after a valid load, then a step
            opt.load_state_dict(copy.deepcopy(source.state_dict()))
            for key, value in saved["state"].items():
                p = opt.param_groups[0]["params"][key]
                opt.state[p] = dict(value)
            model(torch.randn(4, 16)).sum().backward()
            try:
                opt.step()
                stepped_outcome = "stepped"
            except (ValueError, TypeError) as error:
                stepped_outcome = f"{type(error).__name__}: {error}"
            results[f"{name}/{label}"] = [outcome, stepped_outcome]
    print(json.dumps(results))
''')

_EXPECTED = {
    "different shape": r"ValueError: state 'exp_avg' of parameter 0 \(param group 0\) does not match the "
                       r"parameter: exp_avg shape \(8, 16\), dtype torch.float32, device cpu; "
                       r"parameter shape \(64, 16\), dtype torch.float32, device cpu",
    "equal numel, other shape": r"ValueError: state 'exp_avg_sq' of parameter 2 \(param group 0\).*"
                                r"exp_avg_sq shape \(64, 16\).*parameter shape \(16, 64\)",
    "missing exp_avg": r"ValueError: the AdamW state of parameter 1 \(param group 0\) lacks 'exp_avg'",
    "missing exp_avg_sq": r"ValueError: the AdamW state of parameter 1 \(param group 0\) lacks 'exp_avg_sq'",
    "missing step": r"ValueError: the AdamW state of parameter 3 \(param group 0\) lacks 'step'",
    "much smaller state": r"ValueError: state 'exp_avg' of parameter 0 .*exp_avg shape \(1,\).*"
                          r"parameter shape \(64, 16\)",
}


def test_mismatched_checkpoints_raise_on_every_path_in_a_subprocess():
    impls = {name: kw for name, kw in IMPLEMENTATIONS.items() if name != "auto"}
    run = subprocess.run([sys.executable, "-c", _CHECKPOINT_SCRIPT, json.dumps(impls)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, f"subprocess died with {run.returncode}:\n{run.stderr[-3000:]}"
    results = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(results) == len(impls) * len(_EXPECTED)
    import re
    for key, (loaded, stepped) in results.items():
        label = key.split("/", 1)[1]
        assert re.search(_EXPECTED[label], loaded), (key, loaded)
        assert re.search(_EXPECTED[label], stepped), (key, stepped)


def test_state_replaced_with_equal_numel_is_caught_at_the_next_step_not_scrambled():
    p = torch.nn.Parameter(torch.ones(2, 3))
    opt = AdamW([p], lr=0.1)
    p.grad = torch.ones(2, 3)
    opt.step()
    opt.state[p]["exp_avg"] = opt.state[p]["exp_avg"].reshape(3, 2).clone()
    with pytest.raises(ValueError, match=r"exp_avg shape \(3, 2\).*parameter shape \(2, 3\)"):
        opt.step()
    assert math.isclose(opt.state[p]["step"].item(), 1.0)


def test_reused_buckets_follow_new_parameters_gradients_and_replaced_groups():
    # the cached buckets of a group are dropped whenever the group's parameters, gradients or
    # state change; the numbers stay those of the checking loop
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    twin = copy.deepcopy(model)
    ours = AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
    loop = AdamW(twin.parameters(), lr=0.1, weight_decay=0.1, foreach=False)
    gen = torch.Generator().manual_seed(1)
    for t in range(8):
        x = torch.randn(5, 3, generator=gen)
        for m, opt in ((model, ours), (twin, loop)):
            opt.zero_grad()
            m(x).pow(2).sum().backward()
            if t == 3:  # one parameter without a gradient this step
                m[0].bias.grad = None
            if t == 5:  # checkpoint round trip replaces groups and state
                opt.load_state_dict(copy.deepcopy(opt.state_dict()))
            opt.step()
    assert torch.allclose(torch.cat([p.flatten() for p in model.parameters()]),
                          torch.cat([p.flatten() for p in twin.parameters()]), rtol=1e-6, atol=1e-7)
    assert [ours.state[p]["step"].item() for p in model.parameters()] == [8, 7, 8, 8]


def test_numpy_bools_are_accepted_as_flags():
    p = _p()
    opt = AdamW([p], correct_bias=np.False_, fused=np.True_, no_deprecation_warning=np.bool_(True))
    p.grad = torch.ones(2)
    opt.step()  # correct_bias=False: step size is lr, update lr * 0.1 / (sqrt(0.001) + eps)
    assert torch.allclose(p.detach(), torch.full((2,), 1 - 1e-3 * 0.1 / (0.001 ** 0.5 + 1e-6)), rtol=1e-6)


@pytest.mark.parametrize("name", _FUNCTIONS)
def test_functional_checks_come_before_any_change(name):
    import hfopt_adamw

    p, m, v = torch.ones(5), torch.zeros(5), torch.zeros(5)
    q = torch.ones(3)
    lists = ([p, q], [torch.ones(5), torch.ones(3)], [m, torch.zeros(4)], [v, torch.zeros(3)])
    step = [1, 1] if name == "adamw_single_tensor" else 1
    with pytest.raises(ValueError, match=r"exp_avgs\[1\]"):
        getattr(hfopt_adamw, name)(*lists, step, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.0)
    assert torch.equal(p, torch.ones(5)) and torch.equal(m, torch.zeros(5)) and torch.equal(v, torch.zeros(5))
