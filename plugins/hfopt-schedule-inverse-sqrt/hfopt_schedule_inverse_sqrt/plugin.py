"""hfopt plugin hooks of ``hfopt-schedule-inverse-sqrt`` (light: no torch import)."""
from hfopt_core.plugin import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register the ``inverse_sqrt`` schedule (``timescale`` comes through scheduler_specific_kwargs)."""
    yield ScheduleSpec(
        name="inverse_sqrt",
        factory="hfopt_schedule_inverse_sqrt:get_inverse_sqrt_schedule",
        frameworks=("python", "torch", "keras"),
        summary="linear warmup, then 1/sqrt decay",
        example={"timescale": 50},
        exports=("get_inverse_sqrt_schedule",),
    )
