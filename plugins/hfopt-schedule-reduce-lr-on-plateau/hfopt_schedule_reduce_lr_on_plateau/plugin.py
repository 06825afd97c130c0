"""hfopt plugin hooks of ``hfopt-schedule-reduce-lr-on-plateau`` (light: no torch import)."""
from hfopt_core.plugin import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register the torch-only ``reduce_lr_on_plateau`` schedule."""
    yield ScheduleSpec(
        name="reduce_lr_on_plateau",
        factory="hfopt_schedule_reduce_lr_on_plateau:get_reduce_on_plateau_schedule",
        frameworks=("torch",),
        summary="torch ReduceLROnPlateau: lower the lr when a metric plateaus",
        example={"patience": 2, "factor": 0.5},
        exports=("get_reduce_on_plateau_schedule",),
    )
