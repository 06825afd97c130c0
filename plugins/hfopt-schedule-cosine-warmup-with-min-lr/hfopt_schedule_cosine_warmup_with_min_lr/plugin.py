"""hfopt plugin hooks of ``hfopt-schedule-cosine-warmup-with-min-lr`` (light: no torch import)."""
from hfopt_core.plugin import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register the ``cosine_warmup_with_min_lr`` schedule."""
    yield ScheduleSpec(
        name="cosine_warmup_with_min_lr",
        factory="hfopt_schedule_cosine_warmup_with_min_lr:get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
        frameworks=("python", "torch", "keras"),
        summary="warmup from a start rate, then cosine decay to min_lr",
        example={"min_lr_rate": 0.1, "warmup_lr_rate": 0.1},
        exports=("get_cosine_with_min_lr_schedule_with_warmup_lr_rate",),
    )
