"""hfopt plugin hooks of ``hfopt-warmup`` (light: no tensorflow/keras import)."""
from hfopt_core.plugin import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    """Register the ``warmup`` schedule (Keras only): ``WarmUp`` over a decay schedule."""
    yield ScheduleSpec(
        name="warmup",
        factory="hfopt_warmup:get_warmup_schedule",
        frameworks=("keras",),
        summary="transformers' WarmUp: polynomial warmup, then a Keras decay schedule (Keras 3 / tf-keras)",
        takes=("num_warmup_steps", "num_training_steps"),
        requires=("num_warmup_steps",),
        exports=("WarmUp",),
    )
