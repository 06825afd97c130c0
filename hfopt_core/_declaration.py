"""What a schedule's declaration says, read from its factory's signature (one computation).

A schedule plugin declares a :class:`~hfopt_core.types.ScheduleSpec` whose ``factory`` is the
schedule function. Its signature is the source of truth:

* ``get_scheduler`` passes each of ``num_warmup_steps`` / ``num_training_steps`` that the factory
  names (``takes``), and requires those of them without a default (``requires``, checked in that
  order with transformers' message);
* the ``scheduler_specific_kwargs`` it accepts are its other keyword parameters after the
  optimizer (``last_epoch`` included, as transformers passes them on), or anything when it takes
  ``**kwargs`` (the factory then checks them itself);
* it needs the initial learning rate with ``optimizer=None`` when it has an ``lr_init`` parameter
  and either no ``min_lr`` parameter (the floor is relative to it, as polynomial's ``lr_end``) or a
  ``min_lr`` was given.

An old-form spec that states ``takes``/``requires`` explicitly keeps them.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

from .types import COMMON_SCHEDULE_ARGS

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@dataclass(frozen=True)
class Declaration:
    """A schedule's calling convention, derived from its spec and factory.

    Args:
        takes: the common step counts ``get_scheduler`` passes on.
        requires: those of ``takes`` that must not be ``None``.
        accepted: the ``scheduler_specific_kwargs`` names it takes, or ``None`` for any (``**kwargs``).
        accepts_kwargs: ``False`` when ``scheduler_specific_kwargs`` are ignored (with a warning).
        parameters: every named parameter of the factory after the optimizer.
    """

    takes: tuple[str, ...]
    requires: tuple[str, ...]
    accepted: tuple[str, ...] | None
    accepts_kwargs: bool
    parameters: tuple[str, ...]

    def needs_lr_init(self, arguments) -> bool:
        """Whether a plain (``optimizer=None``) build with ``arguments`` needs ``lr_init``."""
        if "lr_init" not in self.parameters:
            return False
        return "min_lr" not in self.parameters or arguments.get("min_lr") is not None


def _signature(factory):
    try:
        return inspect.signature(factory)
    except (TypeError, ValueError):
        return None


def declaration(spec, factory) -> Declaration:
    """The :class:`Declaration` of schedule ``spec`` whose resolved factory is ``factory``."""
    signature = _signature(factory)
    params = list(signature.parameters.values())[1:] if signature is not None else []
    named = tuple(p.name for p in params if p.kind in _NAMED)
    any_kwargs = signature is None or any(p.kind is p.VAR_KEYWORD for p in params)
    if not spec.derives_takes:
        takes = tuple(spec.takes)
    else:
        takes = tuple(a for a in COMMON_SCHEDULE_ARGS if a in named)
    if not spec.derives_requires:
        requires = tuple(spec.requires)
    else:
        defaults = {p.name: p.default for p in params}
        requires = tuple(a for a in takes if defaults.get(a, None) is inspect.Parameter.empty)
    if not spec.accepts_kwargs:
        accepted = ()
    elif any_kwargs:
        accepted = None
    else:
        accepted = tuple(n for n in named if n not in takes)
    return Declaration(takes, requires, accepted, spec.accepts_kwargs, named)
