"""``Adafactor(fused=True)`` (the compiled op ``hfopt_adafactor::fused_step_``) against
transformers' Adafactor in fp32, bf16 and fp16, how it is built and loaded, and non-contiguous
gradients on the default path (bit-identical to transformers)."""
from __future__ import annotations

import copy
import itertools
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from conftest import available_devices
from hfopt_adafactor import Adafactor, AdafactorSchedule
from hfopt_adafactor import fused as fused_module

tf_opt = pytest.importorskip("transformers.optimization")
Upstream = tf_opt.Adafactor


#: the op is built when the plugin is installed; a build without it (no compiler) skips these tests,
#: and test_the_extension_is_built_here fails, so the dev environment cannot skip them silently
needs_fused = pytest.mark.skipif(not fused_module.available(),
                                 reason="hfopt_adafactor._C not built (installed without a C++ compiler)")

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
def test_parameters_the_kernel_does_not_take_use_the_default_path_with_a_warning():
    # an fp64 parameter in a fused group: default path (bit-identical to transformers), and said so
    shapes = [(6, 5), (40, 3), (9,)]
    dtypes = [torch.float64, torch.float32, torch.float32]
    ours_p = [make([s], dtype=d)[0] for s, d in zip(shapes, dtypes)]
    theirs_p = [make([s], dtype=d)[0] for s, d in zip(shapes, dtypes)]
    ours, theirs = Adafactor(ours_p, fused=True, beta1=0.9), Upstream(theirs_p, beta1=0.9)
    for step in range(3):
        for p, q, g in zip(ours_p, theirs_p, grads_for(step, shapes)):
            p.grad, q.grad = g.to(p.dtype), g.to(p.dtype)
        if step == 0:
            with pytest.warns(UserWarning, match=r"parameter 0 \(dtype torch\.float64\) is updated by the default"):
                ours.step()
        else:
            ours.step()
        theirs.step()
    assert torch.equal(ours_p[0], theirs_p[0])
    for p, q in zip(ours_p[1:], theirs_p[1:]):
        assert relative(p, q) <= 1e-6


@needs_fused
def test_a_non_contiguous_gradient_is_served_by_the_kernel():
    shapes = [(40, 30), (200, 400)]
    a, b = make(shapes), make(shapes)
    opt_a, opt_b = Adafactor(a, fused=True, beta1=0.9), Adafactor(b, fused=True, beta1=0.9)
    for step in range(3):
        for p, q, g in zip(a, b, grads_for(step, shapes)):
            p.grad = g.t().contiguous().t()
            q.grad = g.clone()
            assert not p.grad.is_contiguous()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no fallback warning: the kernel took it
            opt_a.step()
        opt_b.step()
    for p, q in zip(a, b):
        assert torch.equal(p, q)


@needs_fused
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("grad_fp32", [False, True], ids=["grad-same-dtype", "grad-fp32"])
def test_low_precision_parameters_are_the_fp32_kernel_rounded_once(dtype, grad_fp32):
    # fp32 math inside: one step on bf16/fp16 parameters equals the fp32 kernel on the same values,
    # rounded to nearest once (small tensors, and a large one split over threads)
    shapes = [(6, 5), (7,), (3, 4, 5), (300, 260), (70000,)]
    low = make(shapes, dtype=dtype)
    full = [torch.nn.Parameter(p.detach().float()) for p in low]
    if grad_fp32:
        for p in low:
            p.grad_dtype = None  # allow an fp32 gradient on a low-precision parameter
    opt_low, opt_full = Adafactor(low, fused=True, beta1=0.9, weight_decay=0.1), Adafactor(
        full, fused=True, beta1=0.9, weight_decay=0.1)
    for step in range(3):
        for p, q, g in zip(low, full, grads_for(step, shapes)):
            g = g.to(dtype)
            p.grad = g.float() if grad_fp32 else g
            q.grad = g.float()
            q.data.copy_(p.detach().float())  # the fp32 run restarts from the rounded weights
        opt_low.step()
        opt_full.step()
        for p, q in zip(low, full):
            assert p.dtype == dtype
            expected = q.detach().to(dtype)
            mismatch = (p != expected).float().mean().item()
            assert mismatch <= 1e-3, (tuple(p.shape), mismatch)  # reductions may split otherwise
            torch.testing.assert_close(p.float(), expected.float(), rtol=2 ** -7, atol=0)
            for key in ("exp_avg", "exp_avg_sq_row", "exp_avg_sq_col", "exp_avg_sq"):
                if key in opt_low.state[p]:
                    assert opt_low.state[p][key].dtype == torch.float32
                    assert relative(opt_low.state[p][key], opt_full.state[q][key]) <= 1e-6


@needs_fused
def test_bf16_fused_follows_transformers_bf16():
    shapes = [(30, 20), (50,), (260, 257)]
    ours_p, theirs_p = make(shapes, dtype=torch.bfloat16), make(shapes, dtype=torch.bfloat16)
    ours, theirs = Adafactor(ours_p, fused=True), Upstream(theirs_p)
    run(ours, ours_p, 10, dtype=torch.bfloat16)
    run(theirs, theirs_p, 10, dtype=torch.bfloat16)
    for p, q in zip(ours_p, theirs_p):
        # each step rounds to bf16 (8 bits); the two may round a value differently now and then
        assert relative(p, q) <= 1e-2
        assert (p != q).float().mean().item() <= 0.05


@needs_fused
def test_fused_stochastic_rounding_is_unbiased_and_reproducible():
    # updates far below half a bf16 ulp: round to nearest loses them, stochastic rounding keeps
    # them on average; the noise is a function of (seed, step, position)
    n = 200_000
    def one(sr, seed=0):
        p = torch.nn.Parameter(torch.full((n,), 1.0, dtype=torch.bfloat16))
        opt = Adafactor([p], fused=True, relative_step=False, lr=1e-3, scale_parameter=False,
                        stochastic_rounding=sr, stochastic_rounding_seed=seed)
        p.grad = torch.full((n,), 1.0, dtype=torch.bfloat16)
        opt.step()
        return p.detach()
    nearest, sr, again, other = one(False), one(True), one(True), one(True, seed=1)
    exact = 1.0 - 1e-3  # u = g / sqrt(V) = 1 per element (V = g**2 + eps1 at step 1), times lr
    assert torch.equal(nearest, torch.full((n,), 1.0, dtype=torch.bfloat16))  # 1e-3 < half ulp (2**-9)
    assert abs(sr.double().mean().item() - exact) < 2e-5
    assert set(sr.unique().tolist()) == {1.0 - 2 ** -8, 1.0}  # the two neighbours only
    assert torch.equal(sr, again) and not torch.equal(sr, other)


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


def test_the_extension_is_built_here():
    # the dev environment builds it (pip install --no-build-isolation -e): nothing may skip silently
    assert fused_module.available(), "hfopt_adafactor._C is not built: pip install --no-build-isolation -e plugins/hfopt-adafactor"
    import hfopt_adafactor
    import hfopt_adafactor._C as extension

    assert Path(extension.__file__).parent == Path(hfopt_adafactor.__file__).parent  # installed, not a cache
    schema = str(torch.ops.hfopt_adafactor.fused_step_.default._schema)
    assert schema.startswith("hfopt_adafactor::fused_step_(Tensor(a!)[] params, Tensor[] grads")


def test_without_the_extension_fused_is_fused_unavailable_naming_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "hfopt_adafactor._C", None)  # import hfopt_adafactor._C now fails
    with pytest.raises(fused_module.FusedUnavailable, match=r"pip install --no-build-isolation") as info:
        Adafactor(make([(2, 3)]), fused=True)
    assert isinstance(info.value, RuntimeError)
    assert not fused_module.available()
    opt = Adafactor(make([(2, 3)]))  # the default path needs none
    with pytest.raises(fused_module.FusedUnavailable):
        opt.add_param_group({"params": make([(4,)]), "fused": True})
    opt.param_groups[0]["fused"] = True  # switched on later: refused at step, before anything changes
    opt.param_groups[0]["params"][0].grad = torch.ones(2, 3)
    before = opt.param_groups[0]["params"][0].detach().clone()
    with pytest.raises(fused_module.FusedUnavailable):
        opt.step()
    assert torch.equal(opt.param_groups[0]["params"][0], before) and not opt.state


@needs_fused
def test_nothing_is_compiled_or_loaded_at_run_time(tmp_path):
    # $HFOPT_CACHE_DIR (used by the old run-time build) is ignored, no compiler is run, and the only
    # library loaded is the installed extension
    code = textwrap.dedent("""
        import subprocess, sys, torch
        calls = []
        real = subprocess.Popen.__init__
        def spy(self, *a, **k):
            calls.append(a[0] if a else k.get("args"))
            return real(self, *a, **k)
        subprocess.Popen.__init__ = spy
        from hfopt_adafactor import Adafactor
        p = torch.nn.Parameter(torch.randn(300, 260))
        opt = Adafactor([p], fused=True)
        p.grad = torch.randn(300, 260)
        opt.step()
        maps = open("/proc/self/maps").read() if sys.platform.startswith("linux") else ""
        print(calls, sorted({line.split()[-1] for line in maps.splitlines() if ".so" in line}))
    """)
    # a planted library where the old run-time build cached its kernel (and under $XDG_CACHE_HOME)
    for cache in (tmp_path / "cache" / "adafactor", tmp_path / "xdg" / "hfopt" / "adafactor"):
        cache.mkdir(parents=True)
        (cache / "fused-0123456789abcdef0123.so").write_bytes(b"\x7fELF planted")
    env = {**os.environ, "HFOPT_CACHE_DIR": str(tmp_path / "cache"), "XDG_CACHE_HOME": str(tmp_path / "xdg"),
           "CC": "false", "CXX": "false"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("[] "), done.stdout  # no subprocess (no compiler)
    assert str(tmp_path) not in done.stdout  # nothing mapped from the caches
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["fused-0123456789abcdef0123.so"] * 2
    if sys.platform.startswith("linux"):
        import hfopt_adafactor
        assert str(Path(hfopt_adafactor.__file__).parent / "_C") in done.stdout


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


@needs_fused
@pytest.mark.parametrize("device", available_devices())
def test_each_device_is_served_by_the_op_or_the_default_path_with_a_warning(device):
    # the op is registered for CPU dispatch only: parameters elsewhere take the default path, said so
    shapes = [(6, 5), (40,)]
    fused_p = [p.to(device).detach().requires_grad_() for p in make(shapes)]
    plain_p = [p.to(device).detach().requires_grad_() for p in make(shapes)]
    fused_opt, plain_opt = Adafactor(fused_p, fused=True), Adafactor(plain_p)
    for step in range(2):
        for p, q, g in zip(fused_p, plain_p, grads_for(step, shapes)):
            p.grad, q.grad = g.to(device), g.to(device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fused_opt.step()
        plain_opt.step()
        fallbacks = [w for w in caught if "updated by the default" in str(w.message)]
        if device == "cpu":
            assert not fallbacks
        elif step == 0:
            assert fallbacks and f"on {torch.device(device).type}: the kernel is CPU-only" in str(fallbacks[0].message)
    for p, q in zip(fused_p, plain_p):
        if device == "cpu":
            assert relative(p.detach().cpu(), q.detach().cpu()) <= 1e-6
        else:
            assert torch.equal(p.detach().cpu(), q.detach().cpu())
