"""``TYPE_TO_SCHEDULER_FUNCTION``: transformers' table of schedule factories, live and read-only."""
from __future__ import annotations

from collections.abc import Mapping

from .errors import HfoptError
from .scheduler_type import SchedulerType


class SchedulerFunctions(Mapping):
    """``SchedulerType -> schedule function`` for every installed schedule (transformers' ``TYPE_TO_SCHEDULER_FUNCTION``).

    Live: each access asks the plugin registry, so installing, disabling or preferring a plugin
    shows at once. Read-only: it has no ``__setitem__``; register a plugin to add a schedule.
    Keys are :class:`SchedulerType` members whose schedule is installed and usable (a name
    provided by no plugin, or by conflicting plugins, is absent); a plain string value
    (``"cosine"``) looks up the same entry. Iterates in ``SchedulerType`` order.
    """

    __slots__ = ()

    @staticmethod
    def _factory(member):
        from ._build import factory_of
        from .manager import get_manager

        return factory_of(get_manager().lookup("schedule", member.value, "torch"))

    @staticmethod
    def _member(key):
        if isinstance(key, SchedulerType):
            return key
        if isinstance(key, str):
            try:
                return SchedulerType(key)
            except ValueError:
                return None
        return None

    def __getitem__(self, key):
        member = self._member(key)
        if member is None:
            raise KeyError(key)
        try:
            return self._factory(member)
        except (HfoptError, ValueError, ImportError) as exc:
            raise KeyError(key) from exc

    def _installed(self):
        from .manager import get_manager

        names = set(get_manager().names("schedule"))
        return [m for m in SchedulerType if m.value in names]

    def __iter__(self):
        for member in self._installed():
            if member in self:
                yield member

    def __len__(self):
        return sum(1 for _ in self)

    def __contains__(self, key):
        try:
            self[key]
        except KeyError:
            return False
        return True

    def __repr__(self):
        return "TYPE_TO_SCHEDULER_FUNCTION({" + ", ".join(
            f"{m}: {getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', f)}" for m, f in self.items()) + "})"


TYPE_TO_SCHEDULER_FUNCTION = SchedulerFunctions()
