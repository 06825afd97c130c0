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
        takes=("num_warmup_steps",),
        requires=("num_warmup_steps",),
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
