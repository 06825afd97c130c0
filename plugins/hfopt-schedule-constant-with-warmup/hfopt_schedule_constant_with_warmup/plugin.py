"""hfopt plugin hooks of ``hfopt-schedule-constant-with-warmup`` (light: no torch import)."""
from hfopt_core.plugin import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register the ``constant_with_warmup`` schedule."""
    yield ScheduleSpec(
        name="constant_with_warmup",
        factory="hfopt_schedule_constant_with_warmup:get_constant_schedule_with_warmup",
        frameworks=("python", "torch", "keras"),
        summary="linear warmup, then the optimizer's learning rate",
        accepts_kwargs=False,
        exports=("get_constant_schedule_with_warmup",),
    )
