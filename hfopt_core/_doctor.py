"""What ``hfopt doctor`` reports: :class:`Problem` records and the diagnosis of a manager."""
from __future__ import annotations

from dataclasses import dataclass

from .types import PluginInfo


@dataclass(frozen=True)
class Problem:
    """One thing ``hfopt doctor`` reports: what is wrong and how to fix it.

    Args:
        category: ``"broken"``, ``"conflict"``, ``"unknown-name"``, ``"bad-variable"``,
            ``"bad-value"``, ``"preference"``, ``"disabled"`` or ``"deprecated"``.
        subject: the plugin, name or variable concerned.
        message: what is wrong.
        fix: what to do about it.
        needs_fixing: whether it makes ``hfopt doctor`` exit non-zero (disabled plugins do not).
    """

    category: str
    subject: str
    message: str
    fix: str
    needs_fixing: bool = True


def enable_fix(info: PluginInfo) -> str:
    """How to enable a disabled plugin, from the variable that disabled it."""
    subject = info.distribution or info.name
    if "HFOPT_DISABLE_PLUGIN_AUTOLOAD" in info.reason:
        return "unset HFOPT_DISABLE_PLUGIN_AUTOLOAD"
    if "HFOPT_LOAD_PLUGINS" in info.reason:
        return f"add {subject} to HFOPT_LOAD_PLUGINS"
    return f"remove {subject} from HFOPT_DISABLE_PLUGINS"


def plugin_problems(plugins: list[PluginInfo]) -> list[Problem]:
    """A problem for each broken plugin and a note for each disabled one."""
    problems = []
    for info in plugins:
        subject = info.distribution or info.name
        if info.status == "broken":
            problems.append(Problem("broken", info.label, f"{info.label} is broken: {info.reason}",
                                    f"upgrade or reinstall it (pip install -U {subject}), uninstall it, or skip "
                                    f"it with HFOPT_DISABLE_PLUGINS={subject}"))
        elif info.status == "disabled":
            problems.append(Problem("disabled", info.label, f"{info.label} is disabled: {info.reason}",
                                    f"to use it, {enable_fix(info)}", needs_fixing=False))
    return problems


def conflict_problems(conflicts) -> list[Problem]:
    """A problem for each unresolved conflict and a note for each one a preference settles."""
    from ._registry import split_source

    problems = []
    for conflict in conflicts:
        what = f"{conflict.kind} {conflict.name!r} is provided by {' and '.join(conflict.sources)}"
        subject = f"{conflict.kind}:{conflict.name}"
        if conflict.preferred is None:
            first = split_source(conflict.sources[0])[0]
            problems.append(Problem("conflict", subject, what,
                                    f"pick one with HFOPT_PREFER={subject}={first}, or uninstall or disable the other"))
        else:
            problems.append(Problem("conflict", subject, f"{what}; {conflict.preferred} is preferred", "nothing to do",
                                    needs_fixing=False))
    return problems


def preference_problems(preferences: dict, providers_of) -> list[Problem]:
    """A problem for each preference naming a distribution that does not provide the name.

    Args:
        preferences: ``{(kind, name): normalized distribution}``.
        providers_of: ``(kind, name) -> [spec, ...]``, the registered providers.
    """
    from ._discovery import normalize
    from ._registry import split_source

    problems = []
    for (kind, name), wanted in sorted(preferences.items()):
        specs = providers_of(kind, name)
        if not any(normalize(split_source(s.source)[0]) == wanted for s in specs):
            providers = ", ".join(sorted(s.source or "?" for s in specs)) or "no installed plugin"
            problems.append(Problem("preference", f"{kind}:{name}",
                                    f"the preference {kind}:{name}={wanted} names a distribution that does not "
                                    f"provide it (provided by: {providers})", "fix or remove it in HFOPT_PREFER"))
    return problems
