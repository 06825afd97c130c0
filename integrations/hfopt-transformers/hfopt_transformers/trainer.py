"""``HfoptTrainer``: transformers' ``Trainer`` building its optimizer and schedule through the hfopt registry."""
from __future__ import annotations

import functools
from collections.abc import Mapping

from torch.optim.lr_scheduler import ReduceLROnPlateau
from transformers import Trainer, TrainerCallback

from hfopt_core import get_optimizer, get_scheduler

from .arguments import parse_optim_args, scheduler_spec


def _sets_warmup(spec) -> bool:
    """Whether a spec sets its own warmup: a mapping with ``num_warmup_steps``, or a list of phases."""
    return isinstance(spec, (list, tuple)) or (isinstance(spec, Mapping) and "num_warmup_steps" in spec)


def _phases_then_metric(scheduler) -> bool:
    """Whether ``scheduler`` is closed-form phases followed by a metric-driven phase (it has ``in_metric_phase``)."""
    return isinstance(scheduler, ReduceLROnPlateau) and hasattr(scheduler, "in_metric_phase")


class EvaluationMetricOnly(ReduceLROnPlateau):
    """Phases-then-metric scheduler as Trainer drives it: metrics from evaluations reach it only in its metric phase.

    transformers' ``Trainer`` steps a ``ReduceLROnPlateau`` after each evaluation with the metric,
    and never per update. This wrapper takes ``step(metric)`` only once the metric phase has begun
    (before that an evaluation changes nothing); :class:`StepClosedFormPhases` steps the closed-form
    phases once per update. ``state_dict`` is the wrapped scheduler's.

    Args:
        scheduler: the scheduler ``get_scheduler`` built (it has ``in_metric_phase``).
    """

    def __init__(self, scheduler):  # noqa: D107 - ReduceLROnPlateau.__init__ is not called: its type is borrowed
        self.scheduler = scheduler
        self.optimizer = scheduler.optimizer

    def step(self, metrics=None, epoch=None):
        """``step()``: one update of the closed-form phases; ``step(metric)``: the metric phase, once begun."""
        if metrics is None:
            self.scheduler.step()
        elif self.scheduler.in_metric_phase:
            self.scheduler.step(metrics)

    def get_last_lr(self):
        """The wrapped scheduler's last lrs."""
        return self.scheduler.get_last_lr()

    @property
    def in_metric_phase(self) -> bool:
        """Whether the metric-driven phase has begun."""
        return self.scheduler.in_metric_phase

    def state_dict(self):
        """The wrapped scheduler's state."""
        return self.scheduler.state_dict()

    def load_state_dict(self, state_dict, **kwargs):
        """Restore the wrapped scheduler's state."""
        self.scheduler.load_state_dict(state_dict, **kwargs)


class StepClosedFormPhases(TrainerCallback):
    """Steps the trainer's :class:`EvaluationMetricOnly` scheduler once per update until its metric phase begins."""

    def __init__(self, trainer):  # noqa: D107
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        scheduler = self.trainer.lr_scheduler
        if isinstance(scheduler, EvaluationMetricOnly) and not scheduler.in_metric_phase:
            scheduler.step()


class HfoptTrainer(Trainer):
    """A ``Trainer`` whose optimizer and learning-rate schedule come from the hfopt registry.

    Takes the same arguments as ``transformers.Trainer``; give it :class:`HfoptTrainingArguments`
    to name any registered optimizer (``optim``) or schedule (``lr_scheduler_type``).

    * Optimizer: for a registry name, ``get_optimizer(optim, groups, lr=learning_rate, **optim_args)``
      on transformers' own parameter groups (``weight_decay`` for the parameters
      ``get_decay_parameter_names`` returns, ``0.0`` for the rest: biases and norms). transformers'
      ``OptimizerNames`` keep transformers' choice. ``optimizers=`` / ``optimizer_cls_and_kwargs=``
      still win, as in ``Trainer``.
    * Schedule: ``hfopt_core.get_scheduler(spec, optimizer, num_warmup_steps, num_training_steps,
      lr_scheduler_kwargs)`` for every ``lr_scheduler_type`` (transformers' names give transformers'
      numbers), with warmup from ``args.get_warmup_steps`` (``warmup_steps``, else
      ``ceil(warmup_ratio * num_training_steps)``). A mapping spec that sets ``num_warmup_steps``
      itself, or a list of phases, gets ``None`` from the arguments unless ``warmup_steps`` /
      ``warmup_ratio`` are set too (then ``get_scheduler`` reports the clash).

    A list of phases ending in a metric-driven phase (``reduce_lr_on_plateau``, ``greedy``) is
    stepped once per update through its closed-form phases, then with the evaluation metric
    (``metric_for_best_model``, ``"loss"`` by default) after each evaluation, as transformers steps
    ``reduce_lr_on_plateau`` (see :class:`EvaluationMetricOnly`). Resuming from a checkpoint restores
    optimizer and schedule exactly (their ``state_dict`` is what Trainer saves).
    """

    @staticmethod
    def get_optimizer_cls_and_kwargs(args, model=None):
        """``(factory, kwargs)`` for ``args.optim``: the registry's for a registry name, else transformers'."""
        if not getattr(args, "uses_registry_optimizer", False):
            return Trainer.get_optimizer_cls_and_kwargs(args, model)
        kwargs = {"lr": args.learning_rate, **parse_optim_args(args.optim_args)}
        return functools.partial(get_optimizer, args.optim), kwargs

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        """Build ``self.lr_scheduler`` through ``hfopt_core.get_scheduler`` (once; see the class docstring)."""
        if self.lr_scheduler is None:
            spec = scheduler_spec(self.args.lr_scheduler_type)
            warmup = self.args.get_warmup_steps(num_training_steps)
            if _sets_warmup(spec) and not (self.args.warmup_steps or self.args.warmup_ratio):
                warmup = None
            scheduler = get_scheduler(
                spec, self.optimizer if optimizer is None else optimizer, num_warmup_steps=warmup,
                num_training_steps=num_training_steps, scheduler_specific_kwargs=self.args.lr_scheduler_kwargs or None)
            if _phases_then_metric(scheduler):
                scheduler = EvaluationMetricOnly(scheduler)
                if not any(isinstance(c, StepClosedFormPhases) for c in self.callback_handler.callbacks):
                    self.add_callback(StepClosedFormPhases(self))
            self.lr_scheduler = scheduler
            self._created_lr_scheduler = True
        return self.lr_scheduler
