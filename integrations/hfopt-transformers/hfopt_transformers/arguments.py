"""``HfoptTrainingArguments``: transformers' ``TrainingArguments`` with registry names for ``optim`` and ``lr_scheduler_type``."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments
from transformers.trainer_utils import SchedulerType as HFSchedulerType
from transformers.training_args import OptimizerNames

from hfopt_core._plot import parse_settings
from hfopt_core.errors import HfoptError
from hfopt_core.manager import get_manager
from hfopt_core.plugin import argument_error
from hfopt_core.specs import is_metric_driven, parse_spec

_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainingArguments)}
_HF_SCHEDULERS = {member.value for member in HFSchedulerType}
_HF_OPTIMIZERS = {member.value for member in OptimizerNames}


def parse_optim_args(text: str | None) -> dict[str, Any]:
    """``optim_args`` as transformers splits it (``"a=1, b=x"``: spaces dropped, split on ``,`` then ``=``).

    transformers keeps every value a string and converts it per optimizer; for a registry optimizer
    the values are converted here instead: a Python literal (``0.9``, ``True``) becomes that value,
    anything else stays a string. Returns ``{}`` for ``None`` or ``""``; ``ValueError`` naming the
    piece that is not ``key=value``.
    """
    if not text:
        return {}
    if not isinstance(text, str):
        raise argument_error("optim_args", "a str like 'beta1=0.9,beta2=0.99'", text, wrong_type=True)
    pairs = text.replace(" ", "").split(",")
    bad = [pair for pair in pairs if pair.count("=") != 1 or not pair.partition("=")[0].isidentifier()]
    if bad:
        raise argument_error("optim_args", "comma-separated key=value pairs, as transformers parses them (cannot "
                             f"read {', '.join(map(repr, bad))})", text)
    return parse_settings(pairs)


def _one_line(exc) -> str:
    """An error's message on one line (a registry lookup's lists what is installed on a second)."""
    return " ".join(str(exc).split())


def _scheduler_names(spec) -> list:
    """The schedule names a spec uses: ``spec`` itself, ``spec["name"]``, or each phase's ``"name"``."""
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, Mapping):
        return [spec.get("name")]
    if isinstance(spec, (list, tuple)):
        return [phase.get("name") if isinstance(phase, Mapping) else phase for phase in spec]
    raise argument_error("lr_scheduler_type", "a schedule name, a JSON spec or a spec mapping/list", spec,
                         wrong_type=True)


def scheduler_spec(value):
    """The spec that ``lr_scheduler_type`` stands for: a name, or the mapping/list a JSON text holds.

    Text is read by :func:`hfopt_core.specs.parse_spec` (a name, JSON, ``@file.json``, ``@file.yaml``);
    a ``ValueError`` from it is reported against ``lr_scheduler_type``.
    """
    if isinstance(value, HFSchedulerType):
        return value.value
    if isinstance(value, str):
        try:
            return parse_spec(value)
        except ValueError as exc:
            raise argument_error("lr_scheduler_type", f"a schedule name or a valid spec ({_one_line(exc)})",
                                 value) from None
    return value


def registry_scheduler(value):
    """``None`` for one of transformers' scheduler names; else ``value`` checked, as ``lr_scheduler_type`` keeps it.

    Every schedule the spec names must be installed for torch (``ValueError`` naming
    ``lr_scheduler_type`` otherwise); an ``@file`` spec is read now and kept as JSON text.
    """
    if isinstance(value, HFSchedulerType) or (isinstance(value, str) and value in _HF_SCHEDULERS):
        return None
    spec = scheduler_spec(value)
    manager = get_manager()
    for name in _scheduler_names(spec):
        if not isinstance(name, str):
            raise argument_error("lr_scheduler_type", "a spec whose every schedule and phase has a 'name' string "
                                 f"(one has {name!r})", value)
        try:
            manager.lookup("schedule", name, "torch")
        except (ValueError, HfoptError) as exc:
            raise argument_error("lr_scheduler_type", f"one of transformers' schedule names or an installed schedule "
                                 f"({_one_line(exc)})", value) from None
    if isinstance(value, str) and value.strip().startswith("@"):
        return json.dumps(spec)  # the file's spec, kept in the arguments
    return value


def follows_metric(spec) -> bool:
    """Whether the schedule ``spec`` names, or its last phase, is metric-driven (``reduce_lr_on_plateau``, ``greedy``)."""
    last = spec[-1] if isinstance(spec, (list, tuple)) and spec else spec
    name = last.get("name") if isinstance(last, Mapping) else last
    return isinstance(name, str) and is_metric_driven(get_manager().lookup("schedule", name))


def registry_optimizer(value, optim_args=None):
    """``None`` for one of transformers' ``OptimizerNames``; else ``value``, checked installed (with ``optim_args``)."""
    if isinstance(value, OptimizerNames) or (isinstance(value, str) and value in _HF_OPTIMIZERS):
        return None
    if not isinstance(value, str):
        raise argument_error("optim", "an optimizer name (str)", value, wrong_type=True)
    try:
        get_manager().lookup("optimizer", value, "torch")
    except (ValueError, HfoptError) as exc:
        raise argument_error("optim", "one of transformers' optimizer names or an installed optimizer "
                             f"({_one_line(exc)})", value) from None
    parse_optim_args(optim_args)
    return value


@dataclass
class HfoptTrainingArguments(TrainingArguments):
    """``TrainingArguments`` whose ``optim`` and ``lr_scheduler_type`` reach the hfopt registry.

    Every field keeps transformers' meaning; two accept more:

    * ``lr_scheduler_type``: one of transformers' names (kept as its ``SchedulerType``), any
      registered schedule name or alias, a JSON spec text (``'{"name": "cosine", "num_cycles": 0.4}'``,
      ``'[{...}, {...}]'`` for phases), ``@file.json``/``@file.yaml`` (read once, here, and kept as
      JSON text so the saved arguments hold the schedule itself) or the spec mapping/list.
      Schedule names are checked here.
    * ``optim``: one of transformers' ``OptimizerNames`` (kept, with transformers' meaning) or any
      registered optimizer name; ``optim_args`` (``"beta1=0.9,beta2=0.99"``) then gives its keyword
      arguments, split as transformers splits them and read by :func:`parse_optim_args`.

    Registry names stay plain strings, so ``to_dict()``/``to_json_string()`` and
    ``HfArgumentParser`` (``--optim lion --lr_scheduler_type onecycle``) work unchanged. Use with
    :class:`~hfopt_transformers.HfoptTrainer`; a plain ``Trainer`` knows transformers' names only.
    """

    lr_scheduler_type: str = field(
        default=_DEFAULTS["lr_scheduler_type"],
        metadata={"help": "The scheduler: one of transformers' names, any registered hfopt schedule name, or a "
                          "JSON spec (a mapping with 'name', or a list of phases)."})
    optim: str = field(
        default=_DEFAULTS["optim"],
        metadata={"help": "The optimizer: one of transformers' names or any registered hfopt optimizer name "
                          "(its keyword arguments in --optim_args key=value,...)."})

    def __post_init__(self):
        scheduler, optim = registry_scheduler(self.lr_scheduler_type), registry_optimizer(self.optim, self.optim_args)
        metric = scheduler is not None and follows_metric(scheduler_spec(scheduler))
        if metric and getattr(self.eval_strategy, "value", self.eval_strategy) == "no":
            raise ValueError(f"lr_scheduler_type={self.lr_scheduler_type!r} follows a metric (its last phase is "
                             f"metric-driven), which needs evaluations: set eval_strategy ('steps' or 'epoch')")
        if scheduler is not None:
            # transformers' checks run on a stand-in: reduce_lr_on_plateau's for a spec that follows a
            # metric (metric_for_best_model defaults to "loss"), else the default
            self.lr_scheduler_type = HFSchedulerType.REDUCE_ON_PLATEAU if metric else _DEFAULTS["lr_scheduler_type"]
        if optim is not None:
            self.optim = _DEFAULTS["optim"]
        try:
            super().__post_init__()  # transformers' checks and conversions, on its own names
        finally:
            if scheduler is not None:
                self.lr_scheduler_type = scheduler
            if optim is not None and not self.adafactor:  # --adafactor overrides optim, as in transformers
                self.optim = optim

    def set_optimizer(self, name="adamw_torch", learning_rate: float = 5e-5, weight_decay: float = 0,
                      beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8, args: str | None = None):
        """transformers' ``set_optimizer`` (same arguments and defaults); ``name`` may also be a registry name."""
        optim = registry_optimizer(name, args)
        super().set_optimizer(_DEFAULTS["optim"] if optim is not None else name, learning_rate, weight_decay,
                              beta1, beta2, epsilon, args)
        if optim is not None:
            self.optim = optim
        return self

    def set_lr_scheduler(self, name="linear", num_epochs: float = 3.0, max_steps: int = -1,
                         warmup_ratio: float = 0, warmup_steps: int = 0):
        """transformers' ``set_lr_scheduler`` (same arguments and defaults); ``name`` may also be a registry name or spec."""
        scheduler = registry_scheduler(name)
        super().set_lr_scheduler(_DEFAULTS["lr_scheduler_type"] if scheduler is not None else name, num_epochs,
                                 max_steps, warmup_ratio, warmup_steps)
        if scheduler is not None:
            self.lr_scheduler_type = scheduler
        return self

    @property
    def lr_scheduler_spec(self):
        """What ``lr_scheduler_type`` names, as ``hfopt_core.get_scheduler`` takes it (name, mapping or list)."""
        return scheduler_spec(self.lr_scheduler_type)

    @property
    def uses_registry_optimizer(self) -> bool:
        """Whether ``optim`` is a registry name rather than one of transformers' ``OptimizerNames``."""
        return not isinstance(self.optim, OptimizerNames)
