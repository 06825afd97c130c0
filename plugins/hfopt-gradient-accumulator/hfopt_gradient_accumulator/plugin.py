"""hfopt plugin hooks of ``hfopt-gradient-accumulator`` (light: no tensorflow import)."""
from hfopt_core.plugin import AccumulatorSpec, hookimpl


@hookimpl
def hfopt_accumulators():
    """Register the ``gradient_accumulator`` accumulator (TensorFlow)."""
    yield AccumulatorSpec(
        name="gradient_accumulator",
        factory="hfopt_gradient_accumulator:GradientAccumulator",
        frameworks=("tensorflow",),
        summary="transformers' GradientAccumulator: per-replica gradient sums for custom TF loops",
        exports=("GradientAccumulator",),
    )
