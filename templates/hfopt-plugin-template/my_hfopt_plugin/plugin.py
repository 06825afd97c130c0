"""The hooks hfopt discovers. Keep this module (and the package __init__) light: no torch, no tensorflow."""
from hfopt_core.plugin import OptimizerSpec, ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register the ``exponential`` schedule."""
    yield ScheduleSpec(
        name="exponential",
        factory="my_hfopt_plugin:get_exponential_schedule",
        frameworks=("python", "torch", "keras"),  # one formula, every framework
        summary="linear warmup, then exponential decay",
        # the factory's signature says what get_scheduler passes, requires and accepts: no takes/requires
        example={"half_life": 200.0},  # example arguments: docs curves, hfopt show/plot, conformance kit
        exports=("get_exponential_schedule",),
    )


@hookimpl
def hfopt_optimizers():
    """Register the ``sign_sgd`` optimizer."""
    yield OptimizerSpec(
        name="sign_sgd",
        factory="my_hfopt_plugin:SignSGD",
        frameworks=("torch",),
        summary="sign SGD with decoupled weight decay",
        exports=("SignSGD",),
    )
