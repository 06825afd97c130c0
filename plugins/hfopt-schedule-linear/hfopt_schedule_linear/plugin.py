"""hfopt plugin hooks of ``hfopt-schedule-linear`` (light: no torch import)."""
from hfopt_core.plugin import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register the ``linear`` schedule."""
    yield ScheduleSpec(
        name="linear",
        factory="hfopt_schedule_linear:get_linear_schedule_with_warmup",
        frameworks=("python", "torch", "keras"),
        summary="linear warmup, then linear decay to 0",
        exports=("get_linear_schedule_with_warmup",),
    )
