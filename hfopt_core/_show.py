"""What ``hfopt show`` prints: a component's provider, frameworks, signature and docstrings.

The schedule facts (step counts passed and required, ``scheduler_specific_kwargs`` accepted) come
from the one declaration :func:`hfopt_core._declaration.declaration` that ``get_scheduler`` uses.
A spec (a mapping or a list of phases, see :mod:`hfopt_core.specs`) is shown in its canonical
form followed by the description of each schedule it names.
"""
from __future__ import annotations

import difflib
import inspect

from ._registry import split_source
from .errors import UnknownNameError
from .manager import get_manager, resolve

KINDS = ("schedule", "optimizer", "accumulator")


def find_specs(name: str, kind: str | None = None) -> list:
    """Every installed spec registered under ``name`` (or an alias), of ``kind`` or of any kind.

    Args:
        name: a registry name or alias (``"cosine"``, ``"wsd"``, ``"adamw"``).
        kind: ``"schedule"``, ``"optimizer"``, ``"accumulator"`` or ``None`` for all. Defaults to ``None``.

    Raises :class:`~hfopt_core.errors.UnknownNameError` (a ``ValueError``) when nothing provides
    the name, suggesting the nearest installed one of any kind.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}: {name!r}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
    manager = get_manager()
    kinds = KINDS if kind is None else (kind,)
    found = [spec for k in kinds for spec in manager.specs(k) if name in spec.names]
    if found:
        return found
    installed = sorted({n for k in kinds for n in manager.names(k)})
    lowered = {n.lower(): n for n in installed}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    raise UnknownNameError(kind or "component", name, installed, lowered[close[0]] if close else None)


def _default(value):
    if value is inspect.Parameter.empty:
        return None
    return repr(value)


def specific_kwargs(spec, factory) -> list[str] | str:
    """The ``scheduler_specific_kwargs`` a schedule accepts: a list of names, or ``"**kwargs"``.

    Exactly what ``get_scheduler`` accepts (its declaration): the factory's keyword parameters
    after the optimizer except the step counts it passes itself; ``[]`` when the spec ignores them;
    ``"**kwargs"`` when the factory takes ``**kwargs`` (which it checks itself).
    """
    from ._declaration import declaration

    accepted = declaration(spec, factory).accepted
    return "**kwargs" if accepted is None else list(accepted)


def describe(spec) -> dict:
    """A JSON-ready description of ``spec``: provider, frameworks, signature, kwargs, docstrings.

    The factory is imported to read its signature and docstring; when that fails (a framework
    that is not installed, a broken module), ``signature`` is ``None`` and ``import_error`` says why.
    """
    distribution, version = split_source(spec.source)
    info = {
        "kind": spec.kind, "name": spec.name, "aliases": list(spec.aliases), "summary": spec.summary,
        "distribution": distribution or None, "version": version or None,
        "frameworks": list(spec.frameworks), "factory": spec.factory, "exports": sorted(spec.exports),
        "signature": None, "parameters": [], "docstring": "", "module_docstring": "", "import_error": None,
    }
    signature = None
    try:
        factory = resolve(spec.factory)
    except Exception as exc:  # noqa: BLE001 - show what is wrong instead of a traceback
        info["import_error"] = f"{type(exc).__name__}: {exc}"
    else:
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # a callable without an introspectable signature
            pass
    if info["import_error"] is None:
        info["docstring"] = inspect.getdoc(factory) or ""
        module = inspect.getmodule(factory)
        info["module_docstring"] = inspect.getdoc(module) or "" if module is not None else ""
    if signature is not None:
        name = spec.factory.partition(":")[2]
        info["signature"] = f"{name}{signature}"
        info["parameters"] = [{"name": p.name, "kind": p.kind.name.lower(), "default": _default(p.default),
                               "required": p.default is inspect.Parameter.empty
                               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
                              for p in signature.parameters.values()]
    if spec.kind == "schedule":
        info["accepts_kwargs"] = spec.accepts_kwargs
        info["example"] = dict(spec.example)
        if info["import_error"] is None:
            from ._declaration import declaration

            declared = declaration(spec, factory)
            info["takes"], info["requires"] = list(declared.takes), list(declared.requires)
            info["scheduler_specific_kwargs"] = specific_kwargs(spec, factory)
        else:
            info["takes"] = info["requires"] = None
            info["scheduler_specific_kwargs"] = "unknown"
    return info


def format_description(info: dict) -> str:
    """The text ``hfopt show`` prints for one :func:`describe` result."""
    provider = f"{info['distribution']} {info['version']}" if info["version"] else (info["distribution"] or "in-process")
    lines = [f"{info['kind']} {info['name']}" + (f" - {info['summary']}" if info["summary"] else ""),
             f"  provided by   {provider}",
             f"  frameworks    {', '.join(info['frameworks'])}",
             f"  aliases       {', '.join(info['aliases']) or '-'}",
             f"  factory       {info['factory']}"]
    if info["exports"]:
        lines.append(f"  exports       {', '.join(info['exports'])}")
    lines.append(f"  signature     {info['signature'] or 'unavailable (' + str(info['import_error']) + ')'}")
    if info["kind"] == "schedule":
        specific = info["scheduler_specific_kwargs"]
        if not info["accepts_kwargs"]:
            specific_text = "none (ignored with a warning)"
        elif isinstance(specific, list):
            specific_text = ", ".join(specific) or "none"
        else:
            specific_text = {"**kwargs": "**kwargs, passed on to the factory (its docstring names them)"
                             }.get(specific, specific)
        if info["takes"] is not None:
            lines.append(f"  get_scheduler passes {', '.join(info['takes']) or 'no step counts'}"
                         f"; requires {', '.join(info['requires']) or 'none'}")
        lines.append(f"  scheduler_specific_kwargs  {specific_text}")
        if info["example"]:
            lines.append(f"  example       {', '.join(f'{k}={v!r}' for k, v in info['example'].items())}")
    for title, key in (("docstring", "docstring"), ("module docstring", "module_docstring")):
        if info[key]:
            lines += ["", f"  {title}:"] + [f"    {line}".rstrip() for line in info[key].splitlines()]
    return "\n".join(lines)


def describe_spec(spec) -> dict:
    """A JSON-ready description of a spec: ``{"spec": canonical form, "schedules": [describe(...), ...]}``.

    Args:
        spec: a mapping or a list of phases (see :mod:`hfopt_core.specs`).
    """
    from .specs import normalize_spec

    canonical = normalize_spec(spec)
    phases = canonical if isinstance(canonical, list) else [canonical]
    names = list(dict.fromkeys(phase["name"] for phase in phases))
    return {"spec": canonical, "schedules": [describe(s) for name in names for s in find_specs(name, "schedule")]}


def format_spec_description(info: dict) -> str:
    """The text ``hfopt show`` prints for one :func:`describe_spec` result."""
    import json

    spec = info["spec"]
    if isinstance(spec, list):
        lines = [f"spec: {len(spec)} phase(s)"]
        start = 0
        for index, phase in enumerate(spec):
            args = {k: v for k, v in phase.items() if k not in ("name", "steps")}
            length = phase["steps"]
            where = f"steps {start}-{start + length - 1}" if length else ("the rest of the run" if length is None
                                                                        else "no steps")
            lines.append(f"  phase {index}: {phase['name']} ({where}) {json.dumps(args)}")
            start += length or 0
    else:
        lines = [f"spec: {json.dumps(spec)}"]
    return "\n\n".join(["\n".join(lines), *(format_description(d) for d in info["schedules"])])
