"""The hooks hfopt discovers. Keep this module light: no torch, no tensorflow."""
from hfopt_core import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register the ``exponential`` schedule."""
    yield ScheduleSpec(
        name="exponential",
        factory="acme_halflife:get_exponential_schedule",
        frameworks=("python", "torch"),
        summary="linear warmup, then exponential decay",
        takes=("num_warmup_steps",),
        requires=("num_warmup_steps",),
        aliases=("exp",),
        exports={"get_exponential_schedule": "acme_halflife:get_exponential_schedule"},
    )
