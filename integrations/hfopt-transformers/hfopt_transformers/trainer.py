"""``HfoptTrainer``: transformers' ``Trainer`` building its optimizer and schedule through the hfopt registry."""
from __future__ import annotations

import functools
from collections.abc import Mapping

from transformers import Trainer

from hfopt_core import get_optimizer, get_scheduler

from .arguments import parse_optim_args, scheduler_spec


def _sets_warmup(spec) -> bool:
    """Whether a spec sets its own warmup: a mapping with ``num_warmup_steps``, or a list of phases."""
    return isinstance(spec, (list, tuple)) or (isinstance(spec, Mapping) and "num_warmup_steps" in spec)


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

    Resuming from a checkpoint restores both exactly (their ``state_dict`` is what Trainer saves).
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
            self.lr_scheduler = get_scheduler(
                spec, self.optimizer if optimizer is None else optimizer, num_warmup_steps=warmup,
                num_training_steps=num_training_steps, scheduler_specific_kwargs=self.args.lr_scheduler_kwargs or None)
            self._created_lr_scheduler = True
        return self.lr_scheduler
