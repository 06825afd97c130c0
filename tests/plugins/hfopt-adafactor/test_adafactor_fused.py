"""``Adafactor(fused=True)`` (compiled CPU kernel) against transformers' Adafactor, and
non-contiguous gradients on the default path (bit-identical to transformers)."""
from __future__ import annotations

import copy
import itertools

import pytest
import torch

from hfopt_adafactor import Adafactor, AdafactorSchedule
from hfopt_adafactor import fused as fused_module

tf_opt = pytest.importorskip("transformers.optimization")
Upstream = tf_opt.Adafactor


#: the kernel needs a C compiler with OpenMP; without one these tests skip (the default path's run)
needs_fused = pytest.mark.skipif(not fused_module.available(), reason="no C compiler with OpenMP: fused=True unavailable")

# small factored (alone and repeated), 3-D, vectors, degenerate, and tensors above the kernel's
# "large" size (split over threads): factored 2-D and 3-D
SHAPES = [(30, 20), (6, 5), (6, 5), (7, 5, 6), (50,), (3,), (1, 1), (2, 1), (260, 257), (4, 130, 130)]
COMBOS = [
    dict(),
    dict(beta1=0.9, weight_decay=0.1),
    dict(relative_step=False, lr=1e-3, scale_parameter=False),
    dict(warmup_init=True, clip_threshold=0.5, decay_rate=-0.5),
    dict(eps=(1e-20, 1e-2), min_dim_size_to_factor=8),
]


def make(shapes, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter((torch.randn(s, generator=gen) * 0.5).to(dtype)) for s in shapes]


def grads_for(step, shapes, seed=1):
    gen = torch.Generator().manual_seed(seed * 1000 + step)
    scale = (1e-4, 1.0, 30.0)[step % 3]  # small, unit and large (clipped) gradients
    return [torch.randn(s, generator=gen) * scale for s in shapes]


def run(optimizer, params, steps, dtype=torch.float32, start=0):
    shapes = [p.shape for p in params]
    for step in range(start, start + steps):
        for p, g in zip(params, grads_for(step, shapes)):
            p.grad = g.to(dtype)
        optimizer.step()


def relative(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30)).item()


@needs_fused
@pytest.mark.parametrize("kwargs", COMBOS, ids=[str(i) for i in range(len(COMBOS))])
def test_fused_stays_within_1e_6_of_transformers_after_100_steps(kwargs):
    ours_p, theirs_p = make(SHAPES), make(SHAPES)
    upstream_kwargs = {k: v for k, v in kwargs.items() if k != "min_dim_size_to_factor"}
    ours = Adafactor(ours_p, fused=True, **kwargs)
    if "min_dim_size_to_factor" in kwargs:  # transformers factors every matrix: compare with our exact path
        theirs = Adafactor(theirs_p, **kwargs)
    else:
        theirs = Upstream(theirs_p, **upstream_kwargs)
    run(ours, ours_p, 100)
    run(theirs, theirs_p, 100)
    for p, q in zip(ours_p, theirs_p):
        assert relative(p, q) <= 1e-6, (tuple(p.shape), relative(p, q))
        s, t = ours.state[p], theirs.state[q]
        assert list(s) == list(t) and s["step"] == t["step"] == 100
        for key in s:
            if isinstance(s[key], torch.Tensor):
                assert s[key].shape == t[key].shape and s[key].dtype == t[key].dtype, key
                assert relative(s[key], t[key]) <= 1e-6, (tuple(p.shape), key, relative(s[key], t[key]))


@needs_fused
def test_fused_is_at_least_as_close_to_float64_as_transformers_on_a_long_vector():
    # transformers' fp32 reductions over 70000 elements drift about 1e-6 from exact arithmetic
    # after 100 steps at this learning rate; the kernel accumulates in double and stays closer
    shapes = [(70000,)]
    kwargs = dict(relative_step=False, lr=0.05, beta1=0.0, eps=(1e-20, 1e-2))
    results = {}
    for name, cls, dtype, extra in (("truth", Upstream, torch.float64, {}), ("transformers", Upstream, torch.float32, {}),
                                    ("fused", Adafactor, torch.float32, {"fused": True})):
        ps = make(shapes, dtype=dtype)
        run(cls(ps, **kwargs, **extra), ps, 100, dtype=dtype)
        results[name] = ps
    for truth, upstream, ours in zip(results["truth"], results["transformers"], results["fused"]):
        assert relative(ours, truth) <= max(relative(upstream, truth), 5e-7)
        assert relative(ours, truth) <= 1e-6


@needs_fused
def test_parameters_the_kernel_does_not_take_use_the_exact_path():
    # bf16 and fp64 parameters, and a non-contiguous gradient, in a fused group: bit-identical
    shapes = [(6, 5), (40, 3), (9,)]
    dtypes = [torch.bfloat16, torch.float64, torch.float32]
    ours_p = [make([s], dtype=d)[0] for s, d in zip(shapes, dtypes)]
    theirs_p = [make([s], dtype=d)[0] for s, d in zip(shapes, dtypes)]
    ours, theirs = Adafactor(ours_p, fused=True, beta1=0.9), Upstream(theirs_p, beta1=0.9)
    for step in range(5):
        for p, q, g in zip(ours_p, theirs_p, grads_for(step, shapes)):
            g = g.to(p.dtype)
            p.grad = g.t().contiguous().t() if g.dim() == 2 and p.dtype == torch.float32 else g.clone()
            q.grad = g.clone()
        ours.step()
        theirs.step()
    for p, q in zip(ours_p, theirs_p):
        assert torch.equal(p, q)


@needs_fused
def test_fused_state_dict_loads_into_transformers_and_back():
    shapes = [(30, 20), (50,), (260, 257)]
    ours_p, theirs_p = make(shapes), make(shapes)
    ours = Adafactor(ours_p, fused=True, beta1=0.9)
    run(ours, ours_p, 3)
    theirs = Upstream(theirs_p, beta1=0.9)
    theirs.load_state_dict(copy.deepcopy(ours.state_dict()))
    for p, q in zip(ours_p, theirs_p):
        q.data.copy_(p.data)
    run(ours, ours_p, 2, start=3)
    run(theirs, theirs_p, 2, start=3)
    for p, q in zip(ours_p, theirs_p):
        assert relative(p, q) <= 1e-6
        assert ours.state[p]["step"] == theirs.state[q]["step"] == 5


@needs_fused
def test_schedule_reports_the_fused_learning_rate():
    ours_p, theirs_p = make([(6, 5)]), make([(6, 5)])
    ours, theirs = Adafactor(ours_p, fused=True), Upstream(theirs_p)
    ours_s, theirs_s = AdafactorSchedule(ours), tf_opt.AdafactorSchedule(theirs)
    for step in range(3):
        run(ours, ours_p, 1, start=step)
        run(theirs, theirs_p, 1, start=step)
        ours_s.step()
        theirs_s.step()
        torch.testing.assert_close(torch.as_tensor(ours_s.get_last_lr()[0]), torch.as_tensor(theirs_s.get_last_lr()[0]),
                                   rtol=1e-6, atol=0)


@needs_fused
def test_steps_count_per_parameter_and_swapped_data_is_followed():
    shapes = [(6, 5), (70, 1000)]
    ours_p, theirs_p = make(shapes), make(shapes)
    ours, theirs = Adafactor(ours_p, fused=True), Upstream(theirs_p)
    for step in range(4):
        for i, (p, q, g) in enumerate(zip(ours_p, theirs_p, grads_for(step, shapes))):
            has_grad = not (i == 0 and step == 1)  # parameter 0 skips a step
            p.grad = g.clone() if has_grad else None
            q.grad = g.clone() if has_grad else None
        if step == 2:  # p.data replaced by a new tensor: the kernel must follow it
            for p in ours_p:
                p.data = p.data.clone()
        ours.step()
        theirs.step()
    assert [ours.state[p]["step"] for p in ours_p] == [3, 4]
    for p, q in zip(ours_p, theirs_p):
        assert relative(p, q) <= 1e-6


def test_fused_without_a_compiler_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(fused_module, "_loaded", {})
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("HFOPT_CACHE_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"fused=True\) needs a C compiler"):
        Adafactor(make([(2, 3)]), fused=True)
    Adafactor(make([(2, 3)]))  # the default path needs none


@needs_fused
def test_kernel_is_built_once_and_cached(monkeypatch, tmp_path):
    monkeypatch.setattr(fused_module, "_loaded", {})
    monkeypatch.setenv("HFOPT_CACHE_DIR", str(tmp_path))
    fused_module.library()
    built = list((tmp_path / "adafactor").glob("fused-*.so"))
    assert len(built) == 1
    monkeypatch.setattr(fused_module, "_loaded", {})
    stamp = built[0].stat().st_mtime_ns
    fused_module.library()
    assert built[0].stat().st_mtime_ns == stamp


# -- the default path: non-contiguous gradients, bit for bit ---------------------------------
@pytest.mark.parametrize("foreach", [None, False])
def test_non_contiguous_gradients_are_bit_identical_to_transformers(foreach):
    # transformers given the same non-contiguous gradients (its numbers depend on the layout)
    shapes = [(6, 5), (6, 5), (7, 5, 6), (200, 190), (12, 40)] + [(8,)] * 3
    ours_p, theirs_p = make(shapes), make(shapes)
    ours, theirs = Adafactor(ours_p, foreach=foreach, beta1=0.9), Upstream(theirs_p, beta1=0.9)
    for step in range(4):
        for p, q, g in zip(ours_p, theirs_p, grads_for(step, shapes)):
            for param in (p, q):  # each its own copy, transposed in memory (or a strided slice)
                if g.dim() >= 2:
                    param.grad = g.transpose(-1, -2).contiguous().transpose(-1, -2)
                else:
                    param.grad = torch.stack([g, g], dim=1)[:, 0]
                assert not param.grad.is_contiguous()
        ours.step()
        theirs.step()
    for p, q in zip(ours_p, theirs_p):
        assert torch.equal(p, q)
        for key, value in theirs.state[q].items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(ours.state[p][key], value), key


def test_combos_cover_every_option():
    keys = set(itertools.chain.from_iterable(COMBOS))
    assert {"beta1", "weight_decay", "relative_step", "lr", "scale_parameter", "warmup_init", "clip_threshold",
            "decay_rate", "eps", "min_dim_size_to_factor"} <= keys
