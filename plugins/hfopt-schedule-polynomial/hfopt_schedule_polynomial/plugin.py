"""hfopt plugin hooks of ``hfopt-schedule-polynomial`` (light: no torch import)."""
from hfopt_core.plugin import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register the ``polynomial`` schedule."""
    yield ScheduleSpec(
        name="polynomial",
        factory="hfopt_schedule_polynomial:get_polynomial_decay_schedule_with_warmup",
        frameworks=("python", "torch", "keras"),
        summary="linear warmup, then polynomial decay to lr_end",
        example={"power": 2.0, "lr_end": 1e-4},
        exports=("get_polynomial_decay_schedule_with_warmup",),
    )
