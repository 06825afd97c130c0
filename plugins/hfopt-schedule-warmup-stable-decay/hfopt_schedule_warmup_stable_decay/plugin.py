"""hfopt plugin hooks of ``hfopt-schedule-warmup-stable-decay`` (light: no torch import)."""
from hfopt_core.plugin import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register ``warmup_stable_decay`` (alias ``wsd``); only the warmup count is required."""
    yield ScheduleSpec(
        name="warmup_stable_decay",
        aliases=("wsd",),
        factory="hfopt_schedule_warmup_stable_decay:get_wsd_schedule",
        frameworks=("python", "torch", "keras"),
        summary="warmup, stable phase, then decay to min_lr_ratio",
        example={"num_decay_steps": "20%"},
        exports=("get_wsd_schedule",),
    )
