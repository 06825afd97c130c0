"""Schedules as data: parse a schedule spec from text, check it, and put it in its canonical form.

A *spec* names a schedule the way a config file does. It is one of

* a name: ``"cosine"`` (or a :class:`~hfopt_core.SchedulerType`);
* a mapping: ``{"name": "cosine", "num_warmup_steps": 100, "num_cycles": 0.5}``, a name plus any of
  that schedule's arguments;
* a list of phases, each a mapping with ``"name"``, its arguments and its length as ``"steps"``
  (an int) or ``"fraction"`` (of ``num_training_steps``); the last phase may omit its length and
  takes the rest of the run::

      [{"name": "constant_with_warmup", "num_warmup_steps": 100, "steps": 100},
       {"name": "cosine", "num_warmup_steps": 0}]

Step counts (``num_warmup_steps``, ``num_decay_steps``, ``num_stable_steps``, any other
``num_*_steps`` but ``num_training_steps``, and a phase's ``steps``) may be percentage strings such
as ``"10%"``: that share of the run's ``num_training_steps``, rounded down (``"10%"`` of 1005 steps
is 100). Fractions round down the same way.

:func:`parse_spec` reads a spec from text (a name, a JSON string, ``@file.json``, ``@file.yaml``);
:func:`normalize_spec` checks one and returns its canonical, JSON-ready form, which is what
schedulers record in their state. Both only handle data: nothing is imported or called.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

__all__ = ["is_metric_driven", "is_step_count", "normalize_spec", "parse_spec", "phase_arguments",
           "resolve_step_counts", "spec_name"]

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_LENGTH_KEYS = ("steps", "fraction")
_COMMON = ("num_warmup_steps", "num_training_steps")
YAML_HINT = "pip install 'hfopt-core[yaml]'"


def parse_spec(text: str):
    """A schedule spec read from text: a name, a JSON document, ``@file.json`` or ``@file.yaml``.

    Args:
        text: ``"cosine"`` (a name is returned as is), a JSON object or list
            (``'{"name": "cosine", "num_cycles": 0.5}'``), or ``@path`` to a ``.json``, ``.yaml`` or
            ``.yml`` file holding one.

    Returns the spec as plain data (a ``str``, ``dict`` or ``list``), not yet checked against the
    installed schedules (see :func:`normalize_spec`). Files are read with ``json`` or
    ``yaml.safe_load`` only (YAML needs PyYAML: ``pip install 'hfopt-core[yaml]'``). Raises
    ``ValueError`` naming the text or file when it is not a spec, ``TypeError`` for a non-string.
    """
    if not isinstance(text, str):
        raise TypeError(f"spec text must be a str, got {type(text).__name__}: {text!r}")
    stripped = text.strip()
    if not stripped:
        raise ValueError(f"spec must be a schedule name, JSON or @file, got {text!r}")
    if stripped.startswith("@"):
        path = Path(stripped[1:])
        suffix = path.suffix.lower()
        if suffix not in (".json", ".yaml", ".yml"):
            raise ValueError(f"spec file must end in .json, .yaml or .yml, got {stripped!r}")
        content = _read_spec_file(path)
        if suffix == ".json":
            data = _json(content, f"spec file {str(path)!r}")
        else:
            data = _yaml(content, f"spec file {str(path)!r}")
        if not isinstance(data, (str, dict, list)):
            raise ValueError(f"spec file {str(path)!r} must hold a name, a mapping or a list of phases, "
                             f"got {type(data).__name__}: {data!r}")
        return data
    if stripped[0] in "{[\"":
        data = _json(stripped, "spec")
        if not isinstance(data, (str, dict, list)):
            raise ValueError(f"spec must be a name, a mapping or a list of phases, got {data!r}")
        return data
    return stripped


#: the most a spec file may hold (bytes), and the most values / the deepest nesting a spec may have:
#: a spec is a few dozen values; the bounds keep a hostile file or text from hanging or exhausting memory.
MAX_SPEC_FILE_BYTES = 1 << 20
MAX_SPEC_VALUES = 10_000
MAX_SPEC_DEPTH = 32


def _read_spec_file(path: Path) -> str:
    """The text of spec file ``path``: a regular file of at most :data:`MAX_SPEC_FILE_BYTES`, UTF-8.

    Opened without blocking and checked on the open descriptor, so a FIFO, a device (``/dev/zero``,
    also behind a link named ``.json``) or a directory is refused at once instead of hanging or
    filling memory; at most one byte more than the limit is ever read.
    """
    import os
    import stat

    where = f"spec file {str(path)!r}"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise ValueError(f"cannot read {where}: {exc.strerror or exc}") from None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        regular = False
    if not regular:
        os.close(fd)
        raise ValueError(f"cannot read {where}: not a regular file")
    with os.fdopen(fd, "rb") as file:
        data = file.read(MAX_SPEC_FILE_BYTES + 1)
    if len(data) > MAX_SPEC_FILE_BYTES:
        raise ValueError(f"{where} is larger than {MAX_SPEC_FILE_BYTES} bytes: a spec is a few lines")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None


def _bounded(data, what: str):
    """``data`` when it holds at most :data:`MAX_SPEC_VALUES` values nested at most :data:`MAX_SPEC_DEPTH`
    deep (YAML aliases count each time they are used, so an alias bomb is refused) and no integer
    beyond float range (every number of a schedule becomes a float); else ``ValueError``."""
    import sys

    count, stack = 0, [(data, 0)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_SPEC_VALUES or depth > MAX_SPEC_DEPTH:
            raise ValueError(f"{what} is too large: a spec holds at most {MAX_SPEC_VALUES} values nested at most "
                             f"{MAX_SPEC_DEPTH} deep")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > sys.float_info.max:
            try:
                size = f"{len(str(abs(value)))} digits"
            except ValueError:  # more digits than Python writes out
                size = f"over {sys.get_int_max_str_digits()} digits"
            raise ValueError(f"{what} holds an integer too large for a float ({size})")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return data


def _json(content: str, what: str):
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply (a spec nests at most {MAX_SPEC_DEPTH} deep)") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise ValueError(f"{what} is not a usable JSON document: {exc}") from None
    return _bounded(data, what)


def _yaml(content: str, what: str):
    try:
        import yaml
    except ImportError as exc:
        raise ImportError(f"reading a YAML spec needs PyYAML, which is not installed: {YAML_HINT}",
                          name="yaml") from exc
    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise ValueError(f"{what} is not valid YAML: {exc}") from None
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply (a spec nests at most {MAX_SPEC_DEPTH} deep)") from None
    return _bounded(data, what)


def spec_name(name) -> str:
    """The registry name of a spec's ``name`` (a ``SchedulerType`` member gives its value); ``TypeError`` else."""
    from .scheduler_type import SchedulerType

    value = name.value if isinstance(name, SchedulerType) else name
    if not isinstance(value, str):
        raise TypeError(f"scheduler name must be a str, got {type(name).__name__}: {name!r}")
    return value


def is_step_count(key: str) -> bool:
    """Whether argument ``key`` is a step count that may be a ``"10%"`` string.

    ``steps`` (a phase's length) and every ``num_*_steps`` argument except ``num_training_steps``
    (the run length the percentages refer to).
    """
    return key == "steps" or (key.startswith("num_") and key.endswith("_steps") and key != "num_training_steps")


def _percent_of(key: str, value: str, num_training_steps) -> int:
    match = _PERCENT.match(value)
    if match is None:
        raise ValueError(f"{key} must be a number of steps or a percentage such as '10%', got {value!r}")
    share = Fraction(match[1])
    if share > 100:
        raise ValueError(f"{key} must be a percentage of at most 100%, got {value!r}")
    if num_training_steps is None:
        raise ValueError(f"{key}={value!r} is a share of num_training_steps, which is not given")
    return math.floor(share * num_training_steps / 100)


def _check_horizon(num_training_steps):
    if num_training_steps is None:
        return None
    from ._checks import check_steps

    (steps,) = check_steps(num_training_steps=num_training_steps)
    return steps


def resolve_step_counts(arguments: Mapping, num_training_steps) -> dict:
    """``arguments`` with every percentage step count (``"10%"``) turned into steps of ``num_training_steps``.

    Rounded down: ``floor(p / 100 * num_training_steps)``. Other values, other strings included, are
    returned unchanged (the schedule checks them). Raises ``ValueError`` naming the argument for a malformed percentage, one
    above 100%, or a percentage without ``num_training_steps``.
    """
    horizon = _check_horizon(num_training_steps)
    out = {}
    for key, value in arguments.items():
        if isinstance(key, str) and is_step_count(key) and isinstance(value, str) and value.rstrip().endswith("%"):
            value = _percent_of(key, value, horizon)
        out[key] = value
    return out


def _mapping(spec, where: str) -> dict:
    if not isinstance(spec, Mapping):
        raise TypeError(f"{where} must be a mapping with a 'name', got {type(spec).__name__}: {spec!r}")
    bad = [k for k in spec if not isinstance(k, str)]
    if bad:
        raise TypeError(f"{where} keys must be argument names (str), got {bad!r}")
    if "name" not in spec:
        raise ValueError(f"{where} needs a 'name' (the schedule), got keys {sorted(spec)!r}")
    data = dict(spec)
    data["name"] = spec_name(data["name"])
    return data


def _merge(data: dict, extra: Mapping, where: str, origin: str) -> dict:
    clash = sorted(k for k in extra if k in data)
    if clash:
        raise TypeError(f"{', '.join(map(repr, clash))} given both in {where} and as {origin}: give it once")
    return {**data, **extra}


def _specific(scheduler_specific_kwargs) -> dict:
    if scheduler_specific_kwargs is None:
        return {}
    if not isinstance(scheduler_specific_kwargs, Mapping):
        raise TypeError(f"scheduler_specific_kwargs must be a mapping (dict) of argument names to values, got "
                        f"{type(scheduler_specific_kwargs).__name__}: {scheduler_specific_kwargs!r}")
    bad = [k for k in scheduler_specific_kwargs if not isinstance(k, str)]
    if bad:
        raise TypeError(f"scheduler_specific_kwargs keys must be argument names (str), got {bad!r}")
    return dict(scheduler_specific_kwargs)


def _length(phase: dict, index: int, num_training_steps, last: bool):
    given = [k for k in _LENGTH_KEYS if k in phase]
    where = f"phase {index} ({phase['name']!r})"
    if len(given) == 2:
        raise ValueError(f"{where} gives both 'steps' and 'fraction': give one")
    if not given:
        if not last:
            raise ValueError(f"{where} needs its length as 'steps' or 'fraction' (only the last phase may omit it)")
        return None
    key = given[0]
    value = phase.pop(key)
    if key == "fraction":
        from ._checks import check_number

        fraction = check_number(f"{where} fraction", value, minimum=0)
        if fraction > 1:
            raise ValueError(f"{where} fraction must be at most 1, got {value!r}")
        if num_training_steps is None:
            raise ValueError(f"{where} fraction={value!r} is a share of num_training_steps, which is not given")
        return math.floor(Fraction(repr(fraction)) * num_training_steps)  # 0.7 as written, not 0.69999...
    if isinstance(value, str):
        return _percent_of(f"{where} steps", value, num_training_steps)
    from ._checks import check_number

    return check_number(f"{where} steps", value, minimum=0, integer=True, what="number of steps")


def normalize_spec(spec, num_warmup_steps=None, num_training_steps=None, scheduler_specific_kwargs=None):
    """Check a schedule spec and return its canonical form (plain, JSON-ready data).

    Args:
        spec: a name, a :class:`~hfopt_core.SchedulerType`, a mapping ``{"name": ..., **arguments}``
            or a list of phases (see the module docstring).
        num_warmup_steps: ``get_scheduler``'s argument; merged into a name or mapping. Defaults to ``None``.
        num_training_steps: the run length: merged into a name or mapping, and what percentages,
            fractions and an open last phase refer to. Defaults to ``None``.
        scheduler_specific_kwargs: ``get_scheduler``'s extra arguments; merged into a name or
            mapping. Defaults to ``None``.

    Returns ``{"name": ..., **arguments}`` for a name or a mapping (``None`` step counts left out),
    or a list of phases ``[{"name": ..., "steps": n, **arguments}, ...]`` where every phase has
    its length in steps (``"steps": None`` for an open last phase when ``num_training_steps`` is not
    given). Percentages are resolved. Only the shape is checked here: names and arguments are
    checked by the schedules themselves when built.

    Raises ``TypeError`` for a key given both in the mapping and as an argument (naming it), for
    ``num_warmup_steps`` or ``scheduler_specific_kwargs`` given with a list of phases (each phase
    carries its own), and for a wrong type; ``ValueError`` for a missing name or length, a bad
    percentage or fraction, or phases longer than ``num_training_steps``.
    """
    horizon = _check_horizon(num_training_steps)
    specific = _specific(scheduler_specific_kwargs)
    if isinstance(spec, (list, tuple)):
        if num_warmup_steps is not None or specific:
            given = "num_warmup_steps" if num_warmup_steps is not None else "scheduler_specific_kwargs"
            raise TypeError(f"{given} cannot be combined with a list of phases: give each phase its own arguments")
        return _phases(spec, horizon)
    data = {"name": spec_name(spec)} if not isinstance(spec, Mapping) else _mapping(spec, "spec")
    for key in _LENGTH_KEYS:
        if key in data:
            raise ValueError(f"spec key {key!r} is a phase length: use it inside a list of phases")
    common = {k: v for k, v in (("num_warmup_steps", num_warmup_steps), ("num_training_steps", num_training_steps))
              if v is not None}
    data = _merge(data, common, "the spec", "get_scheduler's argument")
    data = _merge(data, specific, "the spec", "a scheduler_specific_kwargs key")
    return resolve_step_counts(data, data.get("num_training_steps"))


def _phases(spec, horizon) -> list[dict]:
    if not spec:
        raise ValueError("a list of phases must hold at least one phase, got []")
    phases, start = [], 0
    for index, raw in enumerate(spec):
        phase = _mapping(raw, f"phase {index}")
        if "num_training_steps" in phase:
            raise ValueError(f"phase {index} ({phase['name']!r}) gives num_training_steps: a phase's "
                             "num_training_steps is its own length ('steps' or 'fraction')")
        last = index == len(spec) - 1
        length = _length(phase, index, horizon, last)
        if length is None and horizon is not None:
            length = horizon - start
            if length < 0:
                raise ValueError(f"the phases before the last one take {start} steps, more than "
                                 f"num_training_steps ({horizon})")
        if length is not None:
            start += length
        phase = resolve_step_counts(phase, horizon)
        phases.append({"name": phase.pop("name"), "steps": length, **phase})
    if horizon is not None and start > horizon:
        raise ValueError(f"the phases take {start} steps, more than num_training_steps ({horizon})")
    return phases


def is_metric_driven(schedule_spec) -> bool:
    """Whether a registered schedule is driven by a metric (it has no ``step -> multiplier`` form).

    A schedule declared without the ``"python"`` framework but with ``"torch"`` (such as
    ``reduce_lr_on_plateau`` and ``greedy``) is stepped with ``scheduler.step(metric)``: it may
    only be the last phase of a list, on torch.
    """
    return "python" not in schedule_spec.frameworks and "torch" in schedule_spec.frameworks


def phase_arguments(phase: Mapping) -> dict:
    """The mapping spec a canonical phase is built from: its ``steps`` become its ``num_training_steps``."""
    data = {k: v for k, v in phase.items() if k != "steps"}
    if phase.get("steps") is not None:
        data["num_training_steps"] = phase["steps"]
    return data
