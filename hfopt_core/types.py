"""Frozen spec dataclasses that plugins yield from their hooks.

A spec describes a component without importing it: ``factory`` and ``exports`` are import
strings (``"package.module:attribute"``) that the core resolves only when the component is
used, so discovering a plugin never imports torch or tensorflow.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Mapping

#: Frameworks a component may declare. ``"python"`` means "works with ``optimizer=None``":
#: a plain ``step -> multiplier`` callable that needs no framework at all.
FRAMEWORKS = ("python", "torch", "tensorflow", "keras")

#: The common ``get_scheduler`` arguments a schedule may take.
COMMON_SCHEDULE_ARGS = ("num_warmup_steps", "num_training_steps")

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_IMPORT_STRING = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _check_import_string(owner: str, what: str, value: str) -> None:
    if not isinstance(value, str) or not _IMPORT_STRING.match(value):
        raise ValueError(f"{owner}: {what} must be an import string 'package.module:attribute', got {value!r}")


@dataclass(frozen=True)
class ComponentSpec:
    """What a plugin provides: one named component and how to build it.

    Args:
        name: registry name, lowercase ``[a-z][a-z0-9_]*`` (``"cosine"``, ``"adamw"``).
        factory: import string of the callable that builds it (``"pkg.mod:attr"``); resolved lazily.
        frameworks: frameworks it works with, a subset of :data:`FRAMEWORKS`.
        summary: one line shown by ``hfopt list``. Defaults to ``""``.
        aliases: other names that resolve to it. Defaults to ``()``.
        exports: public names the core facade re-exports lazily (``from hfopt_core import Name``):
            a sequence of names found in the factory's module (``("Name",)`` means
            ``{"Name": "<factory module>:Name"}``), or a mapping ``{"Name": "pkg.mod:attr"}``.
            Defaults to ``()``.
        source: the distribution that provided it, ``"name==version"``; filled in by the manager.
    """

    kind: ClassVar[str] = "component"

    name: str
    factory: str
    frameworks: tuple[str, ...]
    summary: str = ""
    aliases: tuple[str, ...] = ()
    exports: Mapping[str, str] | tuple[str, ...] = ()
    source: str | None = None

    def __post_init__(self) -> None:
        owner = f"{type(self).__name__}({self.name!r})"
        for n in (self.name, *self.aliases):
            if not isinstance(n, str) or not _NAME.match(n):
                raise ValueError(f"{owner}: names must match [a-z][a-z0-9_]*, got {n!r}")
        _check_import_string(owner, "factory", self.factory)
        frameworks = tuple(self.frameworks)
        unknown = [f for f in frameworks if f not in FRAMEWORKS]
        if not frameworks or unknown:
            raise ValueError(f"{owner}: frameworks must be a non-empty subset of {FRAMEWORKS}, got {self.frameworks!r}")
        exports = self.exports
        if isinstance(exports, str) or not isinstance(exports, (Mapping, tuple, list)):
            raise ValueError(f"{owner}: exports must be a sequence of names or a mapping, got {exports!r}")
        if not isinstance(exports, Mapping):
            module = self.factory.partition(":")[0]
            exports = {export: f"{module}:{export}" for export in exports}
        for export, target in exports.items():
            if not isinstance(export, str) or not export.isidentifier():
                raise ValueError(f"{owner}: export name {export!r} is not an identifier")
            _check_import_string(owner, f"exports[{export!r}]", target)
        object.__setattr__(self, "frameworks", frameworks)
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "exports", MappingProxyType(dict(exports)))

    @property
    def names(self) -> tuple[str, ...]:
        """The name followed by its aliases."""
        return (self.name, *self.aliases)

    def with_source(self, source: str) -> "ComponentSpec":
        """A copy tagged with the distribution that provided it."""
        return dataclasses.replace(self, exports=dict(self.exports), source=source)


@dataclass(frozen=True)
class ScheduleSpec(ComponentSpec):
    """A learning-rate schedule, resolved by :func:`hfopt_core.get_scheduler`.

    ``factory`` is called as ``factory(optimizer, **common, **scheduler_specific_kwargs)`` where
    ``optimizer`` may be ``None`` (return a plain ``step -> multiplier`` callable) when
    ``"python"`` is among ``frameworks``.

    The factory's signature is the declaration: ``get_scheduler`` passes the step counts it
    names, requires those without a default, and accepts its other keyword parameters as
    ``scheduler_specific_kwargs`` (see :mod:`hfopt_core._declaration`). ``takes`` and ``requires``
    are only for factories whose signature cannot say it (the 0.1 form, still honoured): left at
    their defaults they are derived from the signature.

    Args:
        takes: which of ``num_warmup_steps`` / ``num_training_steps`` ``get_scheduler`` passes on.
            Defaults to :data:`COMMON_SCHEDULE_ARGS` itself, which means "those the factory names".
        requires: which of ``takes`` must not be ``None``; checked in this order with
            transformers' message. Defaults to :data:`COMMON_SCHEDULE_ARGS` itself, which means
            "those the factory names without a default".
        accepts_kwargs: whether ``scheduler_specific_kwargs`` are passed on (when ``False`` they are
            ignored, with a warning if any were given). Defaults to ``True``.
        example: example ``scheduler_specific_kwargs`` that show the schedule's character (step
            counts may be percentages of ``num_training_steps``, such as ``"20%"``); the docs'
            curves, ``hfopt plot``, the conformance kit and the tests use them. Defaults to ``{}``.
    """

    kind: ClassVar[str] = "schedule"

    takes: tuple[str, ...] = COMMON_SCHEDULE_ARGS
    requires: tuple[str, ...] = COMMON_SCHEDULE_ARGS
    accepts_kwargs: bool = True
    example: Mapping[str, object] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = f"ScheduleSpec({self.name!r})"
        takes, requires = tuple(self.takes), tuple(self.requires)  # tuple(t) is t: the default stays itself
        if any(a not in COMMON_SCHEDULE_ARGS for a in takes):
            raise ValueError(f"{owner}: takes must be a subset of {COMMON_SCHEDULE_ARGS}, got {self.takes!r}")
        if any(a not in takes for a in requires):
            raise ValueError(f"{owner}: requires must be a subset of takes={takes!r}, got {self.requires!r}")
        example = self.example
        if not isinstance(example, Mapping) or not all(isinstance(k, str) for k in example):
            raise ValueError(f"{owner}: example must be a mapping of argument names to values, got {example!r}")
        object.__setattr__(self, "takes", takes)
        object.__setattr__(self, "requires", requires)
        object.__setattr__(self, "example", MappingProxyType(dict(example)))

    @property
    def derives_takes(self) -> bool:
        """Whether ``takes`` is left to the factory's signature (not stated explicitly)."""
        return self.takes is COMMON_SCHEDULE_ARGS

    @property
    def derives_requires(self) -> bool:
        """Whether ``requires`` is left to the factory's signature (not stated explicitly)."""
        return self.requires is COMMON_SCHEDULE_ARGS

    def with_source(self, source: str) -> "ScheduleSpec":
        """A copy tagged with the distribution that provided it."""
        return dataclasses.replace(self, exports=dict(self.exports), example=dict(self.example), source=source)


@dataclass(frozen=True)
class OptimizerSpec(ComponentSpec):
    """An optimizer, resolved by :func:`hfopt_core.get_optimizer`.

    ``factory`` is called as ``factory(params, **kwargs)`` for torch optimizers and as
    ``factory(**kwargs)`` for Keras/TensorFlow optimizers (which take no parameters up front).
    """

    kind: ClassVar[str] = "optimizer"


@dataclass(frozen=True)
class AccumulatorSpec(ComponentSpec):
    """A gradient accumulator, resolved by :func:`hfopt_core.get_accumulator` as ``factory(**kwargs)``."""

    kind: ClassVar[str] = "accumulator"


SPEC_TYPES: dict[str, type[ComponentSpec]] = {
    t.kind: t for t in (ScheduleSpec, OptimizerSpec, AccumulatorSpec)
}


@dataclass(frozen=True)
class PluginInfo:
    """One plugin: what the manager knows of it and what ``hfopt list`` shows.

    Args:
        name: the plugin's name: its distribution's name for installed plugins (``"dist:entry-point"``
            when one distribution declares several), the registered name for in-process ones.
        distribution: the distribution that ships it, or ``None`` for in-process plugins.
        version: that distribution's version, or ``None``.
        status: ``"ok"``, ``"broken"`` or ``"disabled"``.
        reason: why it is broken or disabled; ``""`` when ok.
        provides: ``"kind:name"`` for every component it registered.
        entry_point: the entry point's value (``"pkg.plugin"``); ``""`` for in-process plugins.
    """

    name: str
    distribution: str | None
    version: str | None
    status: str
    reason: str = ""
    provides: tuple[str, ...] = ()
    entry_point: str = ""

    @property
    def label(self) -> str:
        """``distribution==version``, or the plugin name for in-process plugins."""
        if self.distribution is None:
            return self.name
        return f"{self.distribution}=={self.version}"
