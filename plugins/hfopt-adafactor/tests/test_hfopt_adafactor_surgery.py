"""State surgery between steps is always seen, on every path (issue 13).

Users and libraries edit an optimizer between steps: they swap tensors' storage (``v.data =
v.data.clone()``, "move the optimizer state" helpers), reset state (``del opt.state[p]``,
``opt.state = defaultdict(dict)``), load checkpoints, add groups, change group values. Each case
here is applied alike to the path under test (default: stacked/packed batches; ``fused=True``:
the compiled op) and to the one-parameter-at-a-time path (``foreach=False``), which holds nothing
between steps, so the two must agree: bit for bit on the default path, within 1e-6 relative
(per step) on the fused one. Cases where a stale address could crash run in a subprocess.
"""
from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
import textwrap
import warnings
from collections import defaultdict

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hfopt_adafactor import Adafactor
from hfopt_adafactor import fused as fused_module

FUSED = pytest.param(True, marks=pytest.mark.skipif(not fused_module.available(),
                                                    reason="hfopt_adafactor._C not built"), id="fused")
PATHS = [pytest.param(None, id="default"), FUSED]
MOMENTS = ("exp_avg", "exp_avg_sq_row", "exp_avg_sq_col", "exp_avg_sq")
# stacked matrices, 3-D, packed vectors, 16 alike (stacked vectors), one large (a wave in the kernel)
SHAPES = [(6, 5), (6, 5), (4, 3, 5), (7,), (13,), (300, 260)] + [(5,)] * 16


def make(shapes=SHAPES, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen) * 0.5) for s in shapes]


def set_grads(params, step):
    gen = torch.Generator().manual_seed(1000 + step)
    for p in params:
        p.grad = (torch.randn(p.shape, generator=gen) * (1e-3, 1.0, 20.0)[step % 3]).to(p.dtype)


def pair(fused, params_a, params_b, **kwargs):
    """The optimizer under test and the one-at-a-time reference."""
    return Adafactor(params_a, fused=fused, **kwargs), Adafactor(params_b, foreach=False, **kwargs)


def assert_agree(fused, subject, reference, params_a, params_b):
    for index, (p, q) in enumerate(zip(params_a, params_b)):
        s, t = subject.state.get(p, {}), reference.state.get(q, {})
        assert sorted(s) == sorted(t), index
        pairs = [(p.detach(), q.detach())] + [(s[k], t[k]) for k in MOMENTS if k in s]
        for a, b in pairs:
            assert a.shape == b.shape and a.dtype == b.dtype, index
            if fused:
                scale = b.double().abs().max().clamp_min(1e-30)
                assert ((a.double() - b.double()).abs().max() / scale).item() <= 1e-5, index
            else:
                assert torch.equal(a, b), index
        if s:
            assert s["step"] == t["step"], index


def steps(opts, params_lists, start, count):
    for step in range(start, start + count):
        for params in params_lists:
            set_grads(params, step)
        for opt in opts:
            opt.step()


# -- Why 1 and 4: storage swapped under the optimizer -------------------------------------------
_SWAP_SCRIPT = textwrap.dedent("""
    import json, sys, torch
    sys.path.insert(0, sys.argv[2])
    from test_hfopt_adafactor_surgery import make, pair, set_grads, assert_agree, steps, MOMENTS
    fused = json.loads(sys.argv[1])
    a, b = make(), make()
    subject, reference = pair(fused, a, b, beta1=0.9)
    steps([subject, reference], [a, b], 0, 2)
    for opt, params in ((subject, a), (reference, b)):
        for p in params:
            for k in MOMENTS:
                if k in opt.state[p]:
                    v = opt.state[p][k]
                    v.data = v.data.clone()  # same Python object, new storage; the old one is freed
        params[-7].data = params[-7].data.clone()
    canaries = [torch.zeros(n) for n in (300 * 260, 300, 260, 30, 80) for _ in range(4)]  # reuse freed blocks
    steps([subject, reference], [a, b], 2, 2)
    assert all(int(c.count_nonzero()) == 0 for c in canaries), "a freed block was written"
    assert_agree(fused, subject, reference, a, b)
    saved = subject.state_dict()["state"]
    for i, q in enumerate(b):
        for k in MOMENTS:
            if k in reference.state[q]:
                got, want = saved[i][k], reference.state[q][k]
                ok = ((got - want).abs().max() <= 1e-5 * want.abs().max()) if fused else torch.equal(got, want)
                assert ok, (i, k)
    print("ok")
""")


@pytest.mark.parametrize("fused", PATHS)
def test_swapped_state_storage_is_followed_in_a_subprocess(fused):
    import os
    here = os.path.dirname(__file__)
    done = subprocess.run([sys.executable, "-c", _SWAP_SCRIPT, json.dumps(fused), here], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), (done.returncode, done.stderr[-3000:])


# -- Why 2: state resets ------------------------------------------------------------------------
def _del(opt, p):
    del opt.state[p]


def _empty(opt, p):
    opt.state[p] = {}


def _clear(opt, p):
    opt.state.clear()


def _replace(opt, p):
    opt.state = defaultdict(dict)


RESETS = {"del": _del, "assign-empty": _empty, "clear": _clear, "new-defaultdict": _replace}


@pytest.mark.parametrize("fused", PATHS)
@pytest.mark.parametrize("reset", sorted(RESETS))
def test_state_resets_take_effect_at_the_next_step(fused, reset):
    a, b = make(), make()
    subject, reference = pair(fused, a, b, beta1=0.9)
    steps([subject, reference], [a, b], 0, 3)
    for opt, params in ((subject, a), (reference, b)):
        RESETS[reset](opt, params[0])
        RESETS[reset](opt, params[-1])
    steps([subject, reference], [a, b], 3, 2)
    assert_agree(fused, subject, reference, a, b)
    assert subject.state[a[0]]["step"] == 2  # started afresh
    saved = subject.state_dict()["state"][0]
    want = reference.state[b[0]]["exp_avg"]
    assert (saved["exp_avg"] - want).abs().max() <= 1e-5 * want.abs().max()
    assert saved["exp_avg"].abs().sum() > 0  # the real moments, not zeros


# -- Why 5 / Deliver 3: group values changed after construction --------------------------------
BAD_CHANGES = [
    (dict(relative_step=False, lr=1e-3), "lr", math.nan, r"^lr must be a finite learning rate, got nan$"),
    (dict(relative_step=False, lr=1e-3), "lr", -1.0, r"^lr must be a non-negative learning rate, got -1\.0$"),
    (dict(), "weight_decay", -0.5, r"^weight_decay must be a non-negative number, got -0\.5$"),
    (dict(), "clip_threshold", 0.0, r"^clip_threshold must be a positive number, got 0\.0$"),
    (dict(), "decay_rate", 0.8, r"^decay_rate must be a number < 0, got 0\.8$"),
    (dict(), "beta1", 1.5, r"^beta1 must be a number in \[0, 1\), got 1\.5$"),
    (dict(), "eps", (1e-30, -1.0), r"^eps\[1\] must be a non-negative number, got -1\.0$"),
    (dict(), "relative_step", False, r"`relative_step=False` requires a manual `lr`"),
]


@pytest.mark.parametrize("fused", PATHS)
@pytest.mark.parametrize("options,key,value,message", BAD_CHANGES, ids=[f"{c[1]}={c[2]}" for c in BAD_CHANGES])
def test_group_values_changed_later_are_checked_before_the_step_changes_anything(fused, options, key, value, message):
    params = make()
    opt = Adafactor(params, fused=fused, **options)
    set_grads(params, 0)
    opt.step()
    before = [p.detach().clone() for p in params]
    state = copy.deepcopy(opt.state_dict()["state"])
    opt.param_groups[0][key] = value
    set_grads(params, 1)
    with pytest.raises(ValueError, match=message):
        opt.step()
    assert all(torch.equal(p, q) for p, q in zip(params, before))
    assert all(opt.state[p]["step"] == 1 for p in params)
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg_sq_row"], state[0]["exp_avg_sq_row"])


@pytest.mark.parametrize("fused", PATHS)
def test_edits_in_place_are_checked_too(fused):
    # a tensor lr edited in place, and eps given as a list edited in place
    params = make([(6, 5)])
    lr = torch.tensor(1e-3)
    opt = Adafactor(params, lr=lr, relative_step=False, eps=[1e-30, 1e-3], fused=fused)
    set_grads(params, 0)
    opt.step()
    lr.fill_(math.nan)
    with pytest.raises(ValueError, match=r"^lr must be a finite learning rate, got nan$"):
        opt.step()
    lr.fill_(1e-3)
    opt.step()
    opt.param_groups[0]["eps"][0] = -1.0
    with pytest.raises(ValueError, match=r"^eps\[0\] must be a non-negative number, got -1\.0$"):
        opt.step()


@pytest.mark.parametrize("fused", PATHS)
def test_a_valid_change_takes_effect(fused):
    a, b = make(), make()
    subject, reference = pair(fused, a, b, relative_step=False, lr=1e-3)
    steps([subject, reference], [a, b], 0, 2)
    for opt in (subject, reference):
        opt.param_groups[0]["lr"] = 5e-2
        opt.param_groups[0]["beta1"] = None
        opt.param_groups[0]["weight_decay"] = 0.1
    steps([subject, reference], [a, b], 2, 2)
    assert_agree(fused, subject, reference, a, b)


def test_load_state_dict_checks_the_groups_it_loads():
    params = make([(6, 5)])
    opt = Adafactor(params, relative_step=False, lr=1e-3)
    set_grads(params, 0)
    opt.step()
    saved = opt.state_dict()
    bad = copy.deepcopy(saved)
    bad["param_groups"][0]["lr"] = math.nan
    groups_before, state_before = opt.param_groups, opt.state
    with pytest.raises(ValueError, match=r"^lr must be a finite learning rate, got nan$"):
        opt.load_state_dict(bad)
    assert opt.param_groups is groups_before and opt.state is state_before and opt.param_groups[0]["lr"] == 1e-3
    # an lr written by AdafactorSchedule beside relative_step=True loads (transformers' checkpoints have it)
    rel = Adafactor(make([(6, 5)]))
    sd = rel.state_dict()
    sd["param_groups"][0]["lr"] = 0.0
    rel.load_state_dict(sd)


# -- Why 6 / Deliver 4: RMS a fresh value per step ----------------------------------------------
@pytest.mark.parametrize("fused", [pytest.param(False, id="loop"), *PATHS])
def test_a_logged_rms_keeps_its_value(fused):
    params = make()
    opt = Adafactor(params, fused=fused) if fused is not False else Adafactor(params, foreach=False)
    set_grads(params, 0)
    opt.step()
    logged = [opt.state[p]["RMS"] for p in params]
    values = [r.clone() for r in logged]
    for step in (1, 2):
        set_grads(params, step)
        opt.step()
    assert all(torch.equal(r, v) for r, v in zip(logged, values))
    assert not all(torch.equal(opt.state[p]["RMS"], v) for p, v in zip(params, values))


# -- Why 6 / Deliver 3: step counts that would overflow -------------------------------------------
@pytest.mark.parametrize("fused", [pytest.param(False, id="loop"), *PATHS])
def test_step_count_overflow_is_refused_before_anything_changes(fused):
    params = make([(6, 5), (300, 260), (7,)])
    opt = Adafactor(params, fused=fused) if fused is not False else Adafactor(params, foreach=False)
    set_grads(params, 0)
    opt.step()
    top = 2**63 - 1
    opt.state[params[0]]["step"] = top - 1  # the last count whose next step fits an int64
    set_grads(params, 1)
    opt.step()
    assert opt.state[params[0]]["step"] == top and opt.state[params[1]]["step"] == 2
    before = [p.detach().clone() for p in params]
    with pytest.raises(ValueError, match=r"parameter 0 .*'step' 9223372036854775807 is too large"):
        opt.step()
    assert [opt.state[p]["step"] for p in params] == [top, 2, 2]
    assert all(torch.equal(p, q) for p, q in zip(params, before))
    saved = opt.state_dict()
    fresh = Adafactor(make([(6, 5), (300, 260), (7,)]))
    with pytest.raises(ValueError, match=r"'step' 9223372036854775807 is too large"):
        fresh.load_state_dict(saved)
    assert not fresh.state


@pytest.mark.parametrize("fused", PATHS)
@pytest.mark.parametrize("swap", ["shape", "view"])
def test_a_state_swapped_for_a_wrong_one_is_refused_before_anything_changes(fused, swap):
    """``.data`` swaps keep the tensor object: a moment given another shape that way (a new storage,
    or a view of the same one) is seen at the next step, which refuses it before any parameter (of
    any group) is updated. (A dtype move is followed: see the random surgery test.)"""
    params = make([(6, 5), (300, 260), (7,)])
    opt = Adafactor([{"params": params[1:]}, {"params": params[:1]}], fused=fused)  # the swapped one last
    set_grads(params, 0)
    opt.step()
    row = opt.state[params[0]]["exp_avg_sq_row"]
    row.data = row.data[:-1].clone() if swap == "shape" else row.data[:-1]
    before = [p.detach().clone() for p in params]
    steps_before = [opt.state[p]["step"] for p in params]
    set_grads(params, 1)
    with pytest.raises((ValueError, TypeError), match="exp_avg_sq_row"):
        opt.step()
    assert all(torch.equal(p, q) for p, q in zip(params, before))
    assert [opt.state[p]["step"] for p in params] == steps_before


# -- Deliver 5: randomized state surgery ------------------------------------------------------
OPS = ["step", "step", "step", "swap-param", "swap-state", "reset", "clear", "load", "add-group",
       "state-to-float64", "param-to-float64"]


def _apply(op, arg, opt, params, extra_seed):
    """Apply one surgery ``op`` to ``opt`` (identically for every optimizer compared)."""
    if op == "swap-param":
        p = params[arg % len(params)]
        p.data = p.data.clone()
    elif op == "swap-state":
        p = params[arg % len(params)]
        for k in MOMENTS:
            if k in opt.state.get(p, {}):
                v = opt.state[p][k]
                v.data = v.data.clone()
    elif op == "reset":
        opt.state.pop(params[arg % len(params)], None)
    elif op == "clear":
        opt.state = defaultdict(dict)
    elif op == "load":
        opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    elif op == "add-group":
        new = make([(3 + arg % 4, 5)] + [(4,)] * (arg % 3), seed=extra_seed)
        opt.add_param_group({"params": new})
        params.extend(new)
    elif op == "state-to-float64":  # a dtype move (exact: fp32 -> fp64 and back)
        p = params[arg % len(params)]
        for k in MOMENTS:
            if k in opt.state.get(p, {}):
                v = opt.state[p][k]
                v.data = v.data.double()
    elif op == "param-to-float64":
        p = params[arg % len(params)]
        p.data = p.data.double()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fused=st.booleans(), ops=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 1000)), min_size=1, max_size=10))
def test_random_state_surgery_matches_the_one_at_a_time_path(fused, ops):
    if fused and not fused_module.available():
        pytest.skip("hfopt_adafactor._C not built")
    subjects = {"default": make(), "loop": make()}
    opts = {"default": Adafactor(subjects["default"], beta1=0.9, weight_decay=0.01),
            "loop": Adafactor(subjects["loop"], beta1=0.9, weight_decay=0.01, foreach=False)}
    if fused:
        subjects["fused"] = make()
        opts["fused"] = Adafactor(subjects["fused"], beta1=0.9, weight_decay=0.01, fused=True)
    step = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fp64 parameters leave the fused path (warned)
        for n, (op, arg) in enumerate(ops + [("step", 0)]):
            if op == "step":
                for params in subjects.values():
                    set_grads(params, step)
                for opt in opts.values():
                    opt.step()
                step += 1
            else:
                for name, opt in opts.items():
                    _apply(op, arg, opt, subjects[name], extra_seed=100 + n)
    assert_agree(False, opts["default"], opts["loop"], subjects["default"], subjects["loop"])
    if fused:
        assert_agree(True, opts["fused"], opts["loop"], subjects["fused"], subjects["loop"])
    for name, opt in opts.items():  # what state_dict saves is the state the next step uses
        saved = opt.state_dict()["state"]
        for i, p in enumerate(subjects[name]):
            for k in MOMENTS:
                if k in opt.state.get(p, {}):
                    assert torch.equal(saved[i][k], opt.state[p][k]), (name, i, k)
