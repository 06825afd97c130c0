"""The compiled kernel behind ``Adafactor(fused=True)``: the ``torch.library`` op
``hfopt_adafactor::fused_step_``.

The op is C++ (``csrc/fused_step.cpp``), built by ``pip install`` with torch's C++ extension tooling
into the module ``hfopt_adafactor._C``, and registered with torch's dispatcher when that module is
imported. Nothing is compiled, cached or loaded from elsewhere at run time (``$HFOPT_CACHE_DIR``,
used by earlier versions for a run-time build, is ignored). Like torch's ``_fused_adamw_``, each
call receives the current parameter, gradient and state tensors and checks them before writing
anything; no address is kept between calls. CPU kernel only (fp32, bf16 and fp16 parameters; fp32
math and state); a CUDA kernel would be registered beside it.
"""
from __future__ import annotations

__all__ = ["FusedUnavailable", "available", "fused_step_", "require"]

#: how to get the extension built, for the error message
_FIX = ("reinstall the plugin from source with torch and a C++ compiler present: "
        "pip install --no-build-isolation --force-reinstall --no-deps hfopt-adafactor "
        "(in a checkout: pip install --no-build-isolation -e plugins/hfopt-adafactor); "
        "or use fused=False (the default, bit-identical to transformers)")


class FusedUnavailable(RuntimeError):
    """The compiled fused kernel is not installed or cannot be loaded (the message says how to fix it)."""


def require():
    """Import the compiled extension (registering the op) and return ``torch.ops.hfopt_adafactor``.

    Raises :class:`FusedUnavailable` when the extension was not built (installed without a
    compiler, or without torch in the build environment) or does not load (built against another
    torch).
    """
    import importlib

    try:
        importlib.import_module("hfopt_adafactor._C")  # importing registers the op
    except (ImportError, OSError) as error:
        raise FusedUnavailable(f"Adafactor(fused=True) needs the compiled extension hfopt_adafactor._C, which "
                               f"{'is not built' if isinstance(error, ModuleNotFoundError) else 'does not load'} "
                               f"({error}); {_FIX}") from error
    import torch

    return torch.ops.hfopt_adafactor


def available() -> bool:
    """Whether ``Adafactor(fused=True)`` can run here (the compiled extension is installed and loads)."""
    try:
        require()
    except FusedUnavailable:
        return False
    return True


def fused_step_(params, grads, exp_avg_sqs, exp_avg_sq_cols, exp_avgs, steps, positions, hyper,
                stochastic_rounding=False, seed=0):
    """One fused Adafactor step in place on CPU tensors; returns the fp32 tensor of each ``RMS(p)``.

    Args:
        params: parameters (fp32, bf16 or fp16, contiguous, one dtype), updated in place.
        grads: their gradients (the parameters' dtype, or fp32), contiguous.
        exp_avg_sqs: per parameter, fp32: ``exp_avg_sq_row`` when factored, else ``exp_avg_sq``.
        exp_avg_sq_cols: ``exp_avg_sq_col`` of the factored parameters, in order.
        exp_avgs: ``exp_avg`` per parameter (fp32), or empty without ``beta1``.
        steps: step counts after the increment (>= 1).
        positions: each parameter's position in the optimizer (seeds stochastic rounding).
        hyper: ``eps1, eps2, clip_threshold, decay_rate, beta1 (-1: none), weight_decay,
            scale_parameter, relative_step, warmup_init, lr`` as floats.
        stochastic_rounding: round bf16 results stochastically. Defaults to ``False``.
        seed: the stochastic rounding seed. Defaults to ``0``.
    """
    return require().fused_step_(params, grads, exp_avg_sqs, exp_avg_sq_cols, exp_avgs, steps, positions, hyper,
                                 stochastic_rounding, seed)
