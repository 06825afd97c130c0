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
from .errors import _shortened
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
    "HFOPT_CACHE_DIR": "deprecated and ignored (hfopt-adafactor's kernel is now built at install time)",
    "HFOPT_REGEN_DOCS": "hfopt's test suite (regenerates docs/invalid-inputs.md)",
    "HFOPT_KERAS_FLAVOUR_RUN": "hfopt's test suite (marks a Keras flavour run)",
}
#: ``HFOPT_*`` variables that no longer do anything, and what replaced them (``hfopt doctor`` notes them)
DEPRECATED_VARIABLES = {
    "HFOPT_CACHE_DIR": "hfopt-adafactor's fused kernel is built when it is installed; nothing is compiled or cached "
                       "at run time (see docs/adafactor.md)",
}
FLAGS = ("HFOPT_DISABLE_PLUGIN_AUTOLOAD", "HFOPT_STRICT_PLUGINS")
LISTS = ("HFOPT_LOAD_PLUGINS", "HFOPT_DISABLE_PLUGINS")
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"", "0", "false", "no", "off"})
#: ``KERAS_BACKEND`` values Keras 3 imports (any other non-empty value makes ``import keras`` fail)
KERAS_BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")
#: ``TF_USE_LEGACY_KERAS`` values TensorFlow reads as false (its true values are
#: :data:`hfopt_core.frameworks.LEGACY_KERAS_VALUES`; anything else is also false, unlike what it may look like)
LEGACY_KERAS_FALSE = ("", "0", "false", "False")
#: how many names of one variable a problem lists, and how much of a value it echoes
SHOWN_NAMES = 5
SHOWN_CHARACTERS = 80


def shown(value: str) -> str:
    """``repr(value)``, cut to :data:`SHOWN_CHARACTERS` with the full length said: an untrusted value
    of any size echoed in a bounded message."""
    return _shortened(repr(value), SHOWN_CHARACTERS, len(value))


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
    plugins = ", ".join(sorted({i.distribution for i in installed})) or "none"
    for var, listed in lists.items():
        unknown = sorted({n for n in listed or () if normalize(n) not in known})
        if not unknown:
            continue
        named = ", ".join(shown(n) for n in unknown[:SHOWN_NAMES])
        more = f" and {len(unknown) - SHOWN_NAMES} more" if len(unknown) > SHOWN_NAMES else ""
        which = "which is not an installed hfopt plugin" if len(unknown) == 1 else "which are not installed hfopt plugins"
        problems.append(Problem("unknown-name", var, f"{var} names {named}{more}, {which}",
                                f"installed plugins: {plugins}"))
    preferences, bad = read_preferences(environ)
    allow = lists["HFOPT_LOAD_PLUGINS"]
    return Policy(autoload=not flag(environ, "HFOPT_DISABLE_PLUGIN_AUTOLOAD"),
                  allow=None if allow is None else frozenset(normalize(n) for n in allow),
                  deny=frozenset(normalize(n) for n in lists["HFOPT_DISABLE_PLUGINS"] or ()),
                  preferences=preferences, problems=tuple(problems + bad))


def read_preferences(environ) -> tuple[dict, list[Problem]]:
    """``({(kind, name): normalized distribution}, problems)`` from ``HFOPT_PREFER``."""
    preferences, malformed = {}, []
    for item in names(environ, "HFOPT_PREFER") or ():
        match = re.fullmatch(r"\s*(\w+)\s*:\s*([\w.-]+)\s*=\s*([\w.-]+)\s*", item)
        if not match or match.group(1) not in SPEC_TYPES:
            malformed.append(item)
            continue
        preferences[(match.group(1), match.group(2))] = normalize(match.group(3))
    if not malformed:
        return preferences, []
    entries = ", ".join(shown(item) for item in malformed[:SHOWN_NAMES])
    more = f" and {len(malformed) - SHOWN_NAMES} more" if len(malformed) > SHOWN_NAMES else ""
    return preferences, [Problem("preference", "HFOPT_PREFER",
                                 f"HFOPT_PREFER {'entry' if len(malformed) == 1 else 'entries'} {entries}{more} "
                                 f"{'is' if len(malformed) == 1 else 'are'} not kind:name=distribution with kind one "
                                 f"of {', '.join(sorted(SPEC_TYPES))}",
                                 "write it like HFOPT_PREFER=schedule:cosine=hfopt-schedule-cosine")]


def variable_problems(environ) -> list[Problem]:
    """Unknown ``HFOPT_*`` names, flags with a value that is neither true nor false, lists naming nothing."""
    problems = []
    known = {**VARIABLES, **OTHER_VARIABLES}
    # names are case-sensitive: hfopt_load_plugins is a typo too (os.environ keeps the case on POSIX)
    for name in sorted(k for k in environ if k.upper().startswith("HFOPT_") and k not in known):
        stems = {v[len("HFOPT_"):]: v for v in VARIABLES}  # compared without the prefix they all share
        close = difflib.get_close_matches(name[len("HFOPT_"):].upper(), list(stems), n=1, cutoff=0.6)
        case = "" if name.startswith("HFOPT_") else " (variable names are upper case)"
        fix = (f"did you mean {stems[close[0]]}{case}? Rename it" if close else
               f"unset it; the variables hfopt reads are {', '.join(VARIABLES)}")
        subject = shown(name)[1:-1]
        problems.append(Problem("bad-variable", subject, f"{subject} is set but is not an hfopt variable, so it has "
                                "no effect", fix))
    for name in FLAGS:
        value = environ.get(name)
        if value is not None and value.strip().lower() not in TRUE | FALSE:
            problems.append(Problem("bad-value", name, f"{name}={shown(value)} is neither true (1/true/yes/on) nor false "
                                    "(0/false/no/off); it counts as set", f"set {name}=1 or unset it"))
    for name in LISTS:
        value = environ.get(name)
        if value is not None and value.strip() and not names(environ, name):
            effect = "no plugin is loaded" if name == "HFOPT_LOAD_PLUGINS" else "no plugin is disabled"
            problems.append(Problem("bad-value", name, f"{name}={shown(value)} names no plugin, so {effect}",
                                    f"list plugin names separated by commas ({name}=hfopt-schedule-cosine), or "
                                    f"unset it"))
    return problems


def deprecated_variable_notes(environ) -> list[Problem]:
    """A note (not a failure) for each set ``HFOPT_*`` variable of :data:`DEPRECATED_VARIABLES`, for ``hfopt doctor``.

    Args:
        environ: the mapping to read (``os.environ``).
    """
    return [Problem("deprecated", name, f"{name} is set but deprecated and ignored: {why}", f"unset {name}",
                    needs_fixing=False)
            for name, why in DEPRECATED_VARIABLES.items() if name in environ]


def framework_variable_problems(environ) -> list[Problem]:
    """``TF_USE_LEGACY_KERAS`` and ``KERAS_BACKEND`` values that do not do what they seem to (for ``hfopt doctor``).

    Args:
        environ: the mapping to read (``os.environ``).

    Not hfopt's variables, so the manager does not warn about them at load; but hfopt follows them
    (:mod:`hfopt_core.frameworks`), so doctor says what they do: TensorFlow reads
    ``TF_USE_LEGACY_KERAS`` as true only for ``1``/``true``/``True`` (``yes``, ``TRUE`` or ``" 1 "``
    are false: Keras 3), and Keras 3 fails to import with any ``KERAS_BACKEND`` but its own
    backends' names (``JAX`` included).
    """
    from .frameworks import LEGACY_KERAS_VALUES

    problems = []
    legacy = environ.get("TF_USE_LEGACY_KERAS")
    if legacy is not None and legacy not in LEGACY_KERAS_VALUES + LEGACY_KERAS_FALSE:
        problems.append(Problem(
            "bad-value", "TF_USE_LEGACY_KERAS",
            f"TF_USE_LEGACY_KERAS={shown(legacy)} is not a value TensorFlow reads as true "
            f"({'/'.join(LEGACY_KERAS_VALUES)}), so tf.keras and hfopt's Keras classes use Keras 3, not tf-keras",
            "set TF_USE_LEGACY_KERAS=1 for tf-keras (transformers' TF models), or 0 (or unset it) for Keras 3"))
    backend = environ.get("KERAS_BACKEND")
    if backend and backend not in KERAS_BACKENDS:
        problems.append(Problem(
            "bad-value", "KERAS_BACKEND",
            f"KERAS_BACKEND={shown(backend)} is not a Keras 3 backend ({', '.join(KERAS_BACKENDS)}), "
            "so `import keras` fails", f"set KERAS_BACKEND to one of {', '.join(KERAS_BACKENDS)} (lower case), "
            "or unset it"))
    return problems
