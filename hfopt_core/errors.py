"""Exceptions and warnings raised by the hfopt core."""
from __future__ import annotations


class HfoptError(Exception):
    """Base class of every hfopt error."""


def _shortened(text: str, limit: int, length: int | None = None) -> str:
    """``text`` cut to ``limit`` characters, with the full length said: an untrusted value of any
    size echoed in a bounded message. ``length`` is the length to report (defaults to ``len(text)``;
    the length of the value itself when ``text`` is its ``repr``)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) if length is None else length} characters)"


class UnknownNameError(HfoptError, ValueError):
    """A name that no installed plugin provides (a ``ValueError``, as transformers raises).

    Attributes:
        kind: ``"schedule"``, ``"optimizer"`` or ``"accumulator"``.
        name: the name asked for.
        installed: the names of that kind that are installed.
        suggestion: the nearest installed name (compared case-insensitively), or ``None``.
        distribution: the hfopt distribution that provides ``name`` when it is known (0.1 argument),
            or ``None``; without a ``hint`` it makes the hint "pip install <distribution>".
        hint: what to do when the name is known but unavailable (which distribution to install,
            or which variable disabled the plugin that provides it), or ``None``.

    The message puts the hint and the installed names on lines of their own.
    """

    def __init__(self, kind, name, installed, suggestion=None, distribution=None, hint=None):
        if hint is None and distribution:
            hint = f"It is provided by the distribution {distribution!r}:\n    pip install {distribution}"
        self.kind, self.name, self.installed = kind, name, tuple(installed)
        self.suggestion, self.distribution, self.hint = suggestion, distribution, hint
        first = f"Unknown {kind} {_shortened(repr(name), 80, len(name))}."
        if suggestion:
            first += f" Did you mean {suggestion!r}?"
        lines = [first]
        if hint:
            lines.append(hint)
        listed = ", ".join(self.installed) if self.installed else "none"
        lines.append(f"Installed {kind}s: {listed}.")
        super().__init__("\n".join(lines))


class PluginConflictError(HfoptError):
    """Two distributions provide the same (kind, name) for the same framework."""


class PluginLoadError(HfoptError):
    """A plugin is broken: raised by every lookup in strict mode, and by invalid in-process registrations."""


class FrameworkError(HfoptError, TypeError):
    """A component was asked for with an object of a framework it does not support."""


class HfoptPluginWarning(UserWarning):
    """Warned once per manager for each broken plugin and each unknown name in an ``HFOPT_*`` variable."""


class MissingPluginError(HfoptError, ImportError):
    """A facade name whose providing distribution is not installed; says what to ``pip install``."""
