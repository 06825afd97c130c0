"""hfopt plugin hooks of ``hfopt-adafactor`` (light: no torch import)."""
from hfopt_core.plugin import OptimizerSpec, ScheduleSpec, hookimpl

_EXPORTS = {
    "Adafactor": "hfopt_adafactor.optimizer:Adafactor",
    "AdafactorSchedule": "hfopt_adafactor.schedule:AdafactorSchedule",
    "get_adafactor_schedule": "hfopt_adafactor.schedule:get_adafactor_schedule",
}


@hookimpl
def hfopt_optimizers():
    """Register the ``adafactor`` optimizer (PyTorch)."""
    yield OptimizerSpec(
        name="adafactor",
        factory="hfopt_adafactor:Adafactor",
        frameworks=("torch",),
        summary="Adafactor: factored second moment, relative step size (transformers-exact)",
        exports=_EXPORTS,
    )


@hookimpl
def hfopt_schedules():
    """Register the ``adafactor`` proxy schedule (reports Adafactor's own relative lr)."""
    yield ScheduleSpec(
        name="adafactor",
        factory="hfopt_adafactor:get_adafactor_schedule",
        frameworks=("torch",),
        takes=(),
        requires=(),
        accepts_kwargs=True,
        summary="proxy schedule reporting Adafactor's internal learning rate",
    )
