"""hfopt's Adafactor against transformers' (test-only oracle), step by step, bit for bit on CPU.

Every option combination transformers documents, fp32 / bf16 / fp16, shapes that exercise each
internal layout (lone large tensors, stacked same-shape matrices, packed vectors), state keys,
dtypes and checkpoints that cross between the two implementations.
"""
from __future__ import annotations

import copy
import itertools

import pytest
import torch

from conftest import available_devices
from hfopt_adafactor import Adafactor

tf_opt = pytest.importorskip("transformers.optimization")
Upstream = tf_opt.Adafactor

# repeated small matrices (stacked), 3-D tensors, vectors of assorted sizes (packed), a zero
# "bias" (eps2 branch of the scale), degenerate shapes; BIG adds lone tensors above torch's
# 32768-element grain (updated one at a time, reductions possibly multi-threaded)
SHAPES = [(9, 8), (6, 5), (6, 5), (6, 5), (4, 3, 5), (4, 3, 5), (7,), (13,), (64,), (300,),
          (1,), (1, 1), (2, 1), (3, 7, 2, 4)] + [(5,)] * 16  # 16 alike: vectors stacked too
BIG = SHAPES + [(190, 180), (40000,)]
ZERO = {6}  # indices initialised to zero

# relative_step / warmup_init / lr: the three valid settings
STEP_MODES = [dict(), dict(warmup_init=True), dict(relative_step=False, lr=1e-3)]
COMBOS = [dict(mode, scale_parameter=scale, beta1=beta1, weight_decay=wd)
          for mode, scale, beta1, wd in itertools.product(STEP_MODES, (True, False), (None, 0.9), (0.0, 0.1))]
COMBOS += [dict(eps=(1e-20, 1e-2), clip_threshold=0.5, decay_rate=-0.5),
           dict(relative_step=False, lr=0.05, clip_threshold=2.0, beta1=0.0)]


def make_params(dtype, device="cpu", seed=0, shapes=SHAPES):
    gen = torch.Generator().manual_seed(seed)
    params = []
    for i, shape in enumerate(shapes):
        value = torch.zeros(shape) if i in ZERO else torch.randn(shape, generator=gen) * 0.5
        params.append(torch.nn.Parameter(value.to(dtype=dtype, device=device)))
    return params


def set_grads(params, step, seed=1):
    gen = torch.Generator().manual_seed(seed * 1000 + step)
    scale = (1e-4, 1.0, 30.0)[step % 3]  # small, unit and large gradients (clipping)
    for p in params:
        p.grad = (torch.randn(p.shape, generator=gen) * scale).to(dtype=p.dtype, device=p.device)


def run(cls, params, steps, **kwargs):
    opt = cls(params, **kwargs)
    for step in range(steps):
        set_grads(params, step)
        opt.step()
    return opt


def assert_same(a, b, device):
    if device == "cpu":
        assert a.dtype == b.dtype and torch.equal(a, b), (a - b).abs().max()
    else:  # other devices: reductions of stacked batches may add in another order
        torch.testing.assert_close(a.float(), b.float(), rtol=1e-6, atol=0) if a.dtype not in (
            torch.float16, torch.bfloat16) else torch.testing.assert_close(a, b)


def assert_states_equal(ours, theirs, params_ours, params_theirs, device="cpu"):
    for p, q in zip(params_ours, params_theirs):
        assert_same(p.detach(), q.detach(), device)
        s, t = ours.state[p], theirs.state[q]
        assert list(s) == list(t)
        assert s["step"] == t["step"] and isinstance(s["step"], int)
        for key in s:
            if key == "step":
                continue
            assert isinstance(s[key], torch.Tensor) and s[key].dtype == t[key].dtype, key
            assert s[key].shape == t[key].shape, key
            assert_same(s[key], t[key], device)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("kwargs", COMBOS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()) or "defaults")
def test_matches_transformers(dtype, kwargs):
    ours_params, theirs_params = make_params(dtype), make_params(dtype)
    ours = run(Adafactor, ours_params, 4, **kwargs)
    theirs = run(Upstream, theirs_params, 4, **kwargs)
    assert_states_equal(ours, theirs, ours_params, theirs_params)


@pytest.mark.parametrize("device", available_devices())
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_matches_transformers_big_tensors(device, dtype):
    ours_params, theirs_params = make_params(dtype, device, shapes=BIG), make_params(dtype, device, shapes=BIG)
    ours = run(Adafactor, ours_params, 3, beta1=0.9, weight_decay=0.01)
    theirs = run(Upstream, theirs_params, 3, beta1=0.9, weight_decay=0.01)
    assert_states_equal(ours, theirs, ours_params, theirs_params, device)


@pytest.mark.parametrize("kwargs", [dict(), dict(beta1=0.9, weight_decay=0.1, scale_parameter=False)])
def test_fp32_close_to_closed_form(kwargs):
    """One step on one matrix and one vector, computed here from the formulas (not upstream's code)."""
    torch.manual_seed(0)
    w, b = torch.randn(5, 4, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    gw, gb = torch.randn(5, 4, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    params = [torch.nn.Parameter(w.float()), torch.nn.Parameter(b.float())]
    params[0].grad, params[1].grad = gw.float(), gb.float()
    Adafactor(params, **kwargs).step()

    eps1, eps2, t = 1e-30, 1e-3, 1
    rho = min(1e-2, 1 / t ** 0.5)
    beta2 = 1 - t ** -0.8  # 0 at t=1: the first moment estimate is the squared gradient itself
    beta1, wd = kwargs.get("beta1"), kwargs.get("weight_decay", 0.0)
    for p, x, g in ((params[0], w, gw), (params[1], b, gb)):
        rms = lambda v: v.pow(2).mean().sqrt()  # noqa: E731
        lr = rho * max(eps2, rms(x).item()) if kwargs.get("scale_parameter", True) else rho
        sq = g * g + eps1
        if x.dim() == 2:
            row, col = (1 - beta2) * sq.mean(1), (1 - beta2) * sq.mean(0)
            v = torch.outer(row / row.mean(), col)
        else:
            v = (1 - beta2) * sq
        u = g / v.sqrt()
        u = u / max(1.0, rms(u).item()) * lr
        if beta1 is not None:
            u = (1 - beta1) * u
        expected = x - wd * lr * x - u
        torch.testing.assert_close(p.detach().double(), expected, rtol=1e-6, atol=1e-7)


def test_foreach_false_is_identical():
    a, b = make_params(torch.float32), make_params(torch.float32)
    oa = run(Adafactor, a, 3, beta1=0.9, weight_decay=0.1)
    ob = run(Adafactor, b, 3, beta1=0.9, weight_decay=0.1, foreach=False)
    assert_states_equal(oa, ob, a, b)


def test_uneven_steps_and_groups():
    """Parameters skipped on some steps (grad None) and two groups with different options."""
    def build(cls, params):
        return cls([{"params": params[:7]}, {"params": params[7:], "beta1": 0.5, "weight_decay": 0.2}],
                   scale_parameter=True)

    ours_params, theirs_params = make_params(torch.float32), make_params(torch.float32)
    ours, theirs = build(Adafactor, ours_params), build(Upstream, theirs_params)
    for step in range(5):
        for params in (ours_params, theirs_params):
            set_grads(params, step)
            for i, p in enumerate(params):
                if (i + step) % 3 == 0:
                    p.grad = None
        ours.step()
        theirs.step()
    assert_states_equal(ours, theirs, ours_params, theirs_params)
    assert len({ours.state[p]["step"] for p in ours_params}) > 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_checkpoints_cross_load(dtype):
    """transformers' optimizer state loads into ours, and both continue from it identically."""
    kwargs = dict(beta1=0.9, weight_decay=0.01)
    saved_params = make_params(dtype)
    checkpoint = run(Upstream, saved_params, 2, **kwargs).state_dict()
    resumed = {}
    for cls in (Upstream, Adafactor):
        params = [torch.nn.Parameter(p.detach().clone()) for p in saved_params]
        opt = cls(params, **kwargs)
        opt.load_state_dict(copy.deepcopy(checkpoint))  # load_state_dict may share tensors
        for step in range(2, 4):
            set_grads(params, step)
            opt.step()
        resumed[cls] = (opt, params)
    (ours, ours_params), (theirs, theirs_params) = resumed[Adafactor], resumed[Upstream]
    assert_states_equal(ours, theirs, ours_params, theirs_params)
    back = Upstream(theirs_params, **kwargs)  # and ours loads back into transformers
    back.load_state_dict(copy.deepcopy(ours.state_dict()))
    assert back.state_dict()["state"].keys() == ours.state_dict()["state"].keys()


def test_state_dict_round_trip_keeps_extra_options():
    params = make_params(torch.float32)
    opt = run(Adafactor, params, 2, min_dim_size_to_factor=2)
    sd = opt.state_dict()
    sd["param_groups"][0].pop("min_dim_size_to_factor")  # as in a checkpoint from transformers
    other = Adafactor(params, min_dim_size_to_factor=2)
    other.load_state_dict(sd)
    assert other.param_groups[0]["min_dim_size_to_factor"] is None  # the checkpoint's (absent) value
    set_grads(params, 5)
    other.step()  # the saved (unfactored) state of the (2, 1) parameter is used as it is
    assert "exp_avg_sq" in other.state[params[SHAPES.index((2, 1))]]


def test_save_and_resume_matches_an_uninterrupted_run(tmp_path):
    """torch.save / torch.load of ours mid-run (combined batches keep moments as views) resumes exactly."""
    kwargs = dict(beta1=0.9, weight_decay=0.01)
    straight_params = make_params(torch.float32)
    straight = run(Adafactor, straight_params, 4, **kwargs)

    params = make_params(torch.float32)
    opt = run(Adafactor, params, 2, **kwargs)
    torch.save({"params": [p.detach() for p in params], "opt": opt.state_dict()}, tmp_path / "ckpt.pt")
    saved = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    resumed_params = [torch.nn.Parameter(p.clone()) for p in saved["params"]]
    resumed = Adafactor(resumed_params, **kwargs)
    resumed.load_state_dict(saved["opt"])
    for step in range(2, 4):
        set_grads(resumed_params, step)
        resumed.step()
    assert_states_equal(resumed, straight, resumed_params, straight_params)


def test_pickled_state_is_as_small_as_the_state():
    """Moments kept as views of a batch buffer must not drag the whole buffer into each pickle."""
    import pickle

    params = [torch.nn.Parameter(torch.randn(300)) for _ in range(100)]
    opt = Adafactor(params, beta1=0.9)
    for _ in range(2):
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()
    state_bytes = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values()
                      if isinstance(t, torch.Tensor))
    assert len(pickle.dumps(opt.state_dict())) < 2 * state_bytes
    clone = pickle.loads(pickle.dumps(opt))
    assert all(torch.equal(a["exp_avg"], b["exp_avg"]) for a, b in zip(opt.state.values(), clone.state.values()))


def test_moments_are_updated_in_place_like_transformers():
    """After the first step the moment tensors stay the same objects (as in transformers)."""
    params = make_params(torch.float32)
    opt = run(Adafactor, params, 2, beta1=0.9)
    before = {id(p): {k: v for k, v in opt.state[p].items() if k.startswith("exp_avg")} for p in params}
    snapshot = {id(p): {k: v.clone() for k, v in d.items()} for p, d in zip(params, before.values())}
    set_grads(params, 2)
    opt.step()
    for p in params:
        for k, v in before[id(p)].items():
            assert opt.state[p][k] is v and not torch.equal(v, snapshot[id(p)][k])


@pytest.mark.parametrize("param_dtype, grad_dtype", [(torch.bfloat16, torch.float32), (torch.float32, torch.bfloat16),
                                                     (torch.float16, torch.float32)], ids=str)
def test_gradient_dtype_other_than_the_parameters(param_dtype, grad_dtype):
    ours_params, theirs_params = make_params(param_dtype), make_params(param_dtype)
    for p in ours_params + theirs_params:
        p.grad_dtype = None  # allow a gradient dtype other than the parameter's
    ours, theirs = Adafactor(ours_params, beta1=0.9), Upstream(theirs_params, beta1=0.9)
    for step in range(3):
        for params in (ours_params, theirs_params):
            set_grads(params, step)
            for p in params:
                p.grad = p.grad.to(grad_dtype)
        ours.step()
        theirs.step()
    assert_states_equal(ours, theirs, ours_params, theirs_params)


def test_unfactored_matrices_of_one_shape_stacked():
    """min_dim_size_to_factor leaves many same-shape matrices unfactored: they are stacked, and
    match transformers updating each of them as a flat vector."""
    shapes = [(3, 4)] * 20 + [(2, 2, 3)] * 17
    ours = make_params(torch.float32, shapes=shapes)
    flat = [torch.nn.Parameter(p.detach().clone().reshape(-1)) for p in ours]
    opt, ref = Adafactor(ours, min_dim_size_to_factor=5, beta1=0.9, weight_decay=0.1), Upstream(flat, beta1=0.9,
                                                                                              weight_decay=0.1)
    for step in range(3):
        set_grads(ours, step)
        for f, p in zip(flat, ours):
            f.grad = p.grad.reshape(-1).clone()
        opt.step()
        ref.step()
    for f, p in zip(flat, ours):
        assert torch.equal(f.detach(), p.detach().reshape(-1))
        assert torch.equal(ref.state[f]["exp_avg_sq"], opt.state[p]["exp_avg_sq"].reshape(-1))
