"""Environment policy: the ``HFOPT_*`` variables, read and checked in one place.

Every variable is untrusted input. A value that is not understood is never silently ignored:
the manager warns (:class:`~hfopt_core.errors.HfoptPluginWarning`) and ``hfopt doctor`` reports
it and exits 1. What the library does meanwhile is said in each message: a flag with an
unrecognised value counts as set (as ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` does with any value), a
list that names no plugin counts as empty, and an ``HFOPT_*`` name that is not one of ours is
ignored (with a "did you mean").
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from ._discovery import normalize
from ._doctor import Problem
from .types import SPEC_TYPES

#: the variables the plugin manager reads, and what each does
VARIABLES = {
    "HFOPT_DISABLE_PLUGIN_AUTOLOAD": "1/true/yes/on: import no installed plugin (they are listed as disabled)",
    "HFOPT_LOAD_PLUGINS": "comma-separated allow-list of plugin or distribution names; set but empty: load none",
    "HFOPT_DISABLE_PLUGINS": "comma-separated deny-list of plugin or distribution names",
    "HFOPT_PREFER": "kind:name=distribution pairs, comma-separated: who provides a name several provide",
    "HFOPT_STRICT_PLUGINS": "1/true/yes/on: while any plugin is broken, every lookup raises PluginLoadError",
}
#: other ``HFOPT_*`` variables that hfopt components read (not the manager's, but not typos either)
OTHER_VARIABLES = {
    "HFOPT_CACHE_DIR": "hfopt-adafactor's compiled-kernel cache",
    "HFOPT_REGEN_DOCS": "hfopt's test suite (regenerates docs/invalid-inputs.md)",
    "HFOPT_KERAS_FLAVOUR_RUN": "hfopt's test suite (marks a Keras flavour run)",
}
FLAGS = ("HFOPT_DISABLE_PLUGIN_AUTOLOAD", "HFOPT_STRICT_PLUGINS")
LISTS = ("HFOPT_LOAD_PLUGINS", "HFOPT_DISABLE_PLUGINS")
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"", "0", "false", "no", "off"})


def flag(environ, key: str) -> bool:
    """Whether flag ``key`` is set: unset, empty or ``0/false/no/off`` is off; anything else is on.

    A value in neither :data:`TRUE` nor :data:`FALSE` counts as on and is reported by
    :func:`variable_problems`.
    """
    return environ.get(key, "").strip().lower() not in FALSE


def names(environ, key: str) -> list[str] | None:
    """The comma-separated names in ``key`` (``None`` when unset; blanks dropped)."""
    value = environ.get(key)
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


@dataclass(frozen=True)
class Policy:
    """What the variables ask of the manager when it loads the installed plugins.

    Args:
        autoload: import installed plugins (``HFOPT_DISABLE_PLUGIN_AUTOLOAD`` off).
        allow: normalized names of ``HFOPT_LOAD_PLUGINS``, or ``None`` when unset (allow all).
        deny: normalized names of ``HFOPT_DISABLE_PLUGINS``.
        preferences: ``{(kind, name): normalized distribution}`` from ``HFOPT_PREFER``.
        problems: what is wrong with the variables (unknown names, bad values), for warnings and doctor.
    """

    autoload: bool
    allow: frozenset | None
    deny: frozenset
    preferences: dict = field(default_factory=dict)
    problems: tuple = ()

    def disabled_because(self, keys: set[str]) -> str | None:
        """Why a plugin known by ``keys`` (normalized plugin and distribution names) is disabled, or ``None``."""
        if not self.autoload:
            return "HFOPT_DISABLE_PLUGIN_AUTOLOAD is set"
        if self.allow is not None and not keys & self.allow:
            return "not listed in HFOPT_LOAD_PLUGINS"
        if keys & self.deny:
            return "listed in HFOPT_DISABLE_PLUGINS"
        return None


def read_policy(environ, installed) -> Policy:
    """The :class:`Policy` of ``environ`` for the ``installed`` plugins (:class:`PluginInfo` list)."""
    lists = {var: names(environ, var) for var in LISTS}
    known = {normalize(i.name) for i in installed} | {normalize(i.distribution) for i in installed}
    problems = list(variable_problems(environ))
    for var, listed in lists.items():
        for unknown in sorted({n for n in listed or () if normalize(n) not in known}):
            plugins = ", ".join(sorted({i.distribution for i in installed})) or "none"
            problems.append(Problem("unknown-name", var, f"{var} names {unknown!r}, which is not an installed hfopt "
                                    "plugin", f"installed plugins: {plugins}"))
    preferences, bad = read_preferences(environ)
    allow = lists["HFOPT_LOAD_PLUGINS"]
    return Policy(autoload=not flag(environ, "HFOPT_DISABLE_PLUGIN_AUTOLOAD"),
                  allow=None if allow is None else frozenset(normalize(n) for n in allow),
                  deny=frozenset(normalize(n) for n in lists["HFOPT_DISABLE_PLUGINS"] or ()),
                  preferences=preferences, problems=tuple(problems + bad))


def read_preferences(environ) -> tuple[dict, list[Problem]]:
    """``({(kind, name): normalized distribution}, problems)`` from ``HFOPT_PREFER``."""
    preferences, problems = {}, []
    for item in names(environ, "HFOPT_PREFER") or ():
        match = re.fullmatch(r"\s*(\w+)\s*:\s*([\w.-]+)\s*=\s*([\w.-]+)\s*", item)
        if not match or match.group(1) not in SPEC_TYPES:
            problems.append(Problem("preference", "HFOPT_PREFER", f"HFOPT_PREFER entry {item!r} is not "
                                    f"kind:name=distribution with kind one of {', '.join(sorted(SPEC_TYPES))}",
                                    "write it like HFOPT_PREFER=schedule:cosine=hfopt-schedule-cosine"))
            continue
        preferences[(match.group(1), match.group(2))] = normalize(match.group(3))
    return preferences, problems


def variable_problems(environ) -> list[Problem]:
    """Unknown ``HFOPT_*`` names, flags with a value that is neither true nor false, lists naming nothing."""
    problems = []
    known = {**VARIABLES, **OTHER_VARIABLES}
    for name in sorted(k for k in environ if k.startswith("HFOPT_") and k not in known):
        stems = {v[len("HFOPT_"):]: v for v in VARIABLES}  # compared without the prefix they all share
        close = difflib.get_close_matches(name[len("HFOPT_"):], list(stems), n=1, cutoff=0.6)
        fix = (f"did you mean {stems[close[0]]}? Rename it" if close else
               f"unset it; the variables hfopt reads are {', '.join(VARIABLES)}")
        problems.append(Problem("bad-variable", name, f"{name} is set but is not an hfopt variable, so it has "
                                "no effect", fix))
    for name in FLAGS:
        value = environ.get(name)
        if value is not None and value.strip().lower() not in TRUE | FALSE:
            problems.append(Problem("bad-value", name, f"{name}={value!r} is neither true (1/true/yes/on) nor false "
                                    "(0/false/no/off); it counts as set", f"set {name}=1 or unset it"))
    for name in LISTS:
        value = environ.get(name)
        if value is not None and value.strip() and not names(environ, name):
            effect = "no plugin is loaded" if name == "HFOPT_LOAD_PLUGINS" else "no plugin is disabled"
            problems.append(Problem("bad-value", name, f"{name}={value!r} names no plugin, so {effect}",
                                    f"list plugin names separated by commas ({name}=hfopt-schedule-cosine), or "
                                    f"unset it"))
    return problems
