"""hfopt for transformers' Trainer: any registered optimizer and schedule, chosen by a string.

* :class:`HfoptTrainingArguments`: ``TrainingArguments`` whose ``lr_scheduler_type`` takes any
  registered schedule name or a spec, and whose ``optim`` takes any registered optimizer name;
* :class:`HfoptTrainer`: a ``Trainer`` that builds both through the hfopt registry.

Importing this package imports transformers (and torch); ``hfopt_core`` never does.
"""
from __future__ import annotations

from .arguments import HfoptTrainingArguments, parse_optim_args
from .trainer import HfoptTrainer

__all__ = ["HfoptTrainer", "HfoptTrainingArguments", "parse_optim_args"]
