"""hfopt plugin hooks of ``hfopt-schedule-constant`` (light: no torch import)."""
from hfopt_core.plugin import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register the ``constant`` schedule (it ignores the step counts, as transformers does)."""
    yield ScheduleSpec(
        name="constant",
        factory="hfopt_schedule_constant:get_constant_schedule",
        frameworks=("python", "torch", "keras"),
        summary="the optimizer's learning rate at every step",
        accepts_kwargs=False,
        exports=("get_constant_schedule",),
    )
