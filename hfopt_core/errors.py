"""Exceptions and warnings raised by the hfopt core."""
from __future__ import annotations


class HfoptError(Exception):
    """Base class of every hfopt error."""


class UnknownNameError(HfoptError, ValueError):
    """A name that no installed plugin provides (a ``ValueError``, as transformers raises).

    Attributes:
        kind: ``"schedule"``, ``"optimizer"`` or ``"accumulator"``.
        name: the name asked for.
        installed: the names of that kind that are installed.
        suggestion: the nearest installed name, or ``None``.
        distribution: the hfopt distribution that provides ``name`` when it is one of ours.
    """

    def __init__(self, kind, name, installed, suggestion=None, distribution=None):
        self.kind, self.name, self.installed = kind, name, tuple(installed)
        self.suggestion, self.distribution = suggestion, distribution
        parts = [f"Unknown {kind} {name!r}."]
        if distribution:
            parts.append(f"It is provided by the distribution {distribution!r}: pip install {distribution}")
        if suggestion:
            parts.append(f"Did you mean {suggestion!r}?")
        listed = ", ".join(self.installed) if self.installed else "none"
        parts.append(f"Installed {kind}s: {listed}.")
        super().__init__(" ".join(parts))


class PluginConflictError(HfoptError):
    """Two distributions provide the same (kind, name) for the same framework."""


class PluginLoadError(HfoptError):
    """A plugin failed to import or its hook raised (fatal only in strict mode)."""


class FrameworkError(HfoptError, TypeError):
    """A component was asked for with an object of a framework it does not support."""


class HfoptPluginWarning(UserWarning):
    """Warned once for each plugin that is broken and skipped."""


class MissingPluginError(HfoptError, ImportError):
    """A facade name whose providing distribution is not installed; says what to ``pip install``."""
