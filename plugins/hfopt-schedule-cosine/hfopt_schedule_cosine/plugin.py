"""hfopt plugin hooks of ``hfopt-schedule-cosine`` (light: no torch import)."""
from hfopt_core.plugin import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register the ``cosine`` schedule."""
    yield ScheduleSpec(
        name="cosine",
        factory="hfopt_schedule_cosine:get_cosine_schedule_with_warmup",
        frameworks=("python", "torch", "keras"),
        summary="linear warmup, then cosine decay to 0",
        example={"num_cycles": 0.5},
        exports=("get_cosine_schedule_with_warmup",),
    )
