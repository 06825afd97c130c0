"""hfopt plugin hooks of ``hfopt-schedule-cosine-with-restarts`` (light: no torch import)."""
from hfopt_core.plugin import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register the ``cosine_with_restarts`` schedule."""
    yield ScheduleSpec(
        name="cosine_with_restarts",
        factory="hfopt_schedule_cosine_with_restarts:get_cosine_with_hard_restarts_schedule_with_warmup",
        frameworks=("python", "torch", "keras"),
        summary="linear warmup, then cosine decays to 0 with hard restarts",
        example={"num_cycles": 3},
        exports=("get_cosine_with_hard_restarts_schedule_with_warmup",),
    )
