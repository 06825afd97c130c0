"""One shape for every "bad input gets a clear error" case, so the docs table is built from the tests.

A test module that checks invalid arguments declares its cases as a module-level list named
``INVALID_CASES`` of :class:`Case` and parametrizes its test over it with :func:`check_case`.
``docs/invalid-inputs.md`` is generated from every ``INVALID_CASES`` of the suite (``tests/`` and each
distribution's ``tests/`` folder, see
``tests/test_invalid_inputs_doc.py``), so the table cannot drift from what the tests assert.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import pytest


@dataclass(frozen=True)
class Case:
    """One invalid input and the error it must get.

    Args:
        component: what is called, as a user would write it (``"AdamW"``, ``"get_scheduler('linear')"``).
        argument: the argument that is wrong (``"lr"``, ``"num_warmup_steps"``).
        value: the bad value as shown in the docs (``"nan"``, ``"-1"``, ``"'abc'"``).
        error: the exception type expected (``ValueError``, ``TypeError``, a subclass).
        match: a regular expression the message must contain (``re.search``); it should name the
            argument and the value.
        call: a zero-argument callable that performs the bad call.
    """

    component: str
    argument: str
    value: str
    error: type
    match: str
    call: Callable[[], object]

    @property
    def id(self) -> str:
        """A pytest id: ``component-argument=value``."""
        return f"{self.component}-{self.argument}={self.value}"


def check_case(case: Case) -> None:
    """Assert that ``case.call()`` raises ``case.error`` with a message matching ``case.match``."""
    with pytest.raises(case.error) as info:
        case.call()
    assert re.search(case.match, str(info.value)), f"{case.id}: message {str(info.value)!r} lacks {case.match!r}"


def parametrize(cases: list[Case]):
    """``@pytest.mark.parametrize("case", cases, ids=...)`` for a list of cases."""
    return pytest.mark.parametrize("case", cases, ids=[c.id for c in cases])
