"""hfopt plugin hooks of ``hfopt-adamw`` (light: no torch import)."""
from hfopt_core.plugin import OptimizerSpec, hookimpl


@hookimpl
def hfopt_optimizers():
    """Register the ``adamw`` optimizer (transformers' AdamW semantics, PyTorch)."""
    yield OptimizerSpec(
        name="adamw",
        factory="hfopt_adamw:AdamW",
        frameworks=("torch",),
        summary="transformers' AdamW (decay after the update) on torch's fused/foreach kernels",
        exports=("AdamW",),
    )
