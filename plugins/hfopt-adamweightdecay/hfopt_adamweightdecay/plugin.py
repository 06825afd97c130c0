"""hfopt plugin hooks of ``hfopt-adamweightdecay`` (light: no tensorflow/keras import)."""
from hfopt_core.plugin import OptimizerSpec, hookimpl


@hookimpl
def hfopt_optimizers():
    """Register the ``adamweightdecay`` optimizer (Keras 3 and tf-keras)."""
    yield OptimizerSpec(
        name="adamweightdecay",
        factory="hfopt_adamweightdecay:AdamWeightDecay",
        frameworks=("keras", "tensorflow"),
        summary="transformers' AdamWeightDecay (decay lr_t * rate * w before Adam) and create_optimizer",
        exports=("AdamWeightDecay", "create_optimizer"),
    )
