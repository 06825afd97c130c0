"""hfopt plugin hooks of ``hfopt-schedule-greedy`` (light: no torch import)."""
from hfopt_core.plugin import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register the torch-only ``greedy`` schedule."""
    yield ScheduleSpec(
        name="greedy",
        factory="hfopt_schedule_greedy:get_greedy_schedule",
        frameworks=("torch",),
        summary="GreedyLR: raise the lr while a metric improves, lower it on plateaus",
        example={"patience": 2, "factor": 0.5},
        exports=("get_greedy_schedule", "GreedyLR", "StreamingAverage"),
    )
