"""Phases joined end to end into one ``step -> multiplier`` (imports nothing from hfopt_core)."""
from __future__ import annotations

import bisect

__all__ = ["Joined"]


class Joined:
    """Phases joined end to end: ``fn(step)`` is phase k's multiplier at ``step - start_k``.

    Args:
        phases: ``((start, step_function), ...)`` with increasing starts, the first at 0; each
            ``step_function`` is a plain ``step -> multiplier`` with ``evaluate(step, ops)``.
        spec: the canonical phase list it was built from (recorded, not used to evaluate).

    The last phase runs on past its own length. Picklable (its phases pickle), and its
    ``__dict__`` stays empty, so ``LambdaLR.state_dict()`` stores no function for it.
    """

    __slots__ = ("starts", "functions", "spec", "__dict__")

    def __init__(self, phases, spec=None):
        phases = tuple((int(start), fn) for start, fn in phases)
        if not phases or phases[0][0] != 0 or any(b[0] < a[0] for a, b in zip(phases, phases[1:])):
            raise ValueError(f"phases must start at 0 with increasing starts, got {[s for s, _ in phases]}")
        self.starts = tuple(start for start, _ in phases)
        self.functions = tuple(fn for _, fn in phases)
        self.spec = spec

    def _index(self, step) -> int:
        return bisect.bisect_right(self.starts, step) - 1

    def __call__(self, step):
        """The multiplier at ``step`` (a Python number)."""
        index = max(0, self._index(step))
        return self.functions[index](step - self.starts[index])

    def evaluate(self, step, ops):
        """The multiplier at ``step`` with another ops namespace (tensors, graphs, ``jax.numpy``).

        Every phase is evaluated at its local step clamped at 0 and the phase holding ``step`` is
        picked with ``ops.where``, so the result stays finite and traceable.
        """
        value = None
        for start, fn in zip(self.starts, self.functions):
            local = ops.maximum(step - start, 0.0) if start else step
            phase = fn.evaluate(local, ops)
            value = phase if value is None else ops.where(step >= start, phase, value)
        return value

    def __reduce__(self):
        return (Joined, (tuple(zip(self.starts, self.functions)), self.spec))

    def __eq__(self, other):
        return type(other) is Joined and (self.starts, self.functions) == (other.starts, other.functions)

    __hash__ = None

    def __repr__(self):
        return "Joined(" + ", ".join(f"{start}: {fn!r}" for start, fn in zip(self.starts, self.functions)) + ")"
