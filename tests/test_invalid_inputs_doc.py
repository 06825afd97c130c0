"""``docs/invalid-inputs.md`` is generated from every ``INVALID_CASES`` of the test suite, so it cannot drift.

The suite is ``tests/`` and each distribution's own ``tests/`` folder (``plugins/*/tests``,
``integrations/*/tests``), the folders ``make test`` runs.

Each case's call is run to get the real message. When the committed file differs from what the
cases produce, this test fails; regenerate with::

    HFOPT_REGEN_DOCS=1 .venv/bin/python -m pytest tests/test_invalid_inputs_doc.py
"""
from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys
import warnings
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DOC = ROOT / "docs" / "invalid-inputs.md"
EXCERPT = 160

HEADER = """# Invalid inputs and the errors they get

Generated from the `INVALID_CASES` of the test suite (`tests/**/test_*.py` and each distribution's
own `plugins/*/tests/`, `integrations/*/tests/`; see `tests/invalid_cases.py`): every row is a call
the tests make, and the message is what that call really raises today. Do not edit by hand; regenerate with
`HFOPT_REGEN_DOCS=1 .venv/bin/python -m pytest tests/test_invalid_inputs_doc.py`.

Every check runs when the object is built (or the function called), before anything is modified.
Messages name the argument and the value. Numbers may be Python numbers, numpy scalars or 0-d
tensors wherever transformers accepts a number; they are converted to plain Python numbers once.
"""


def _test_modules():
    """Every ``test_*.py`` of the suite: under ``tests/``, then each distribution's ``tests/`` folder."""
    yield from sorted(TESTS.rglob("test_*.py"))
    for folder in sorted([*ROOT.glob("plugins/*/tests"), *ROOT.glob("integrations/*/tests")]):
        yield from sorted(folder.rglob("test_*.py"))


def _modules_with_cases():
    """Test modules of the suite that mention ``INVALID_CASES``, ``tests/`` first, then by path (cheap text scan)."""
    found = []
    for path in _test_modules():
        if path == Path(__file__).resolve() or "__pycache__" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if re.search(r"^INVALID_CASES\s*[:=]", text, flags=re.M):
            found.append(path)
    return found


def _load(path: Path):
    """Import a test module by path under a private name; ``None`` when it cannot be imported here."""
    name = "_hfopt_invalid_cases_" + "_".join(path.relative_to(ROOT).with_suffix("").parts).replace("-", "_")
    if name in sys.modules:
        return sys.modules[name]
    for folder in (str(TESTS), str(path.parent)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec.loader.exec_module(module)
    except (Exception, pytest.skip.Exception):  # a module of a plugin not installed here, or skipped
        return None
    sys.modules[name] = module
    return module


def _cell(text: str) -> str:
    text = re.sub(r"0x[0-9a-fA-F]+", "0x...", str(text))
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")
    return " ".join(text.split())


def _outcome(case) -> tuple[str, str]:
    """(error type name, first line of the message) of running the case's call."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case.call()
    except Exception as exc:  # noqa: BLE001 - the point is to record what it raises
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        if len(message) > EXCERPT:
            message = message[:EXCERPT - 3].rstrip() + "..."
        return type(exc).__name__, message
    return "(no error)", "the call did not raise; its test fails"


@functools.lru_cache(maxsize=None)
def render() -> str:
    """The whole Markdown page from the cases found now."""
    parts = [HEADER]
    skipped = []
    for path in _modules_with_cases():
        module = _load(path)
        cases = getattr(module, "INVALID_CASES", None) if module is not None else None
        relative = path.relative_to(ROOT).as_posix()
        if not cases:
            skipped.append(relative)
            continue
        parts.append(f"\n## `{relative}`\n\n| component | argument | value | error | message (excerpt) |\n"
                     "| --- | --- | --- | --- | --- |\n")
        for case in cases:
            error, message = _outcome(case)
            parts.append(f"| `{_cell(case.component)}` | `{_cell(case.argument)}` | `{_cell(case.value)}` | "
                         f"`{error}` | {_cell(message)} |\n")
    if skipped:
        parts.append("\nNot importable where this page was generated (their rows are missing): "
                     + ", ".join(f"`{s}`" for s in skipped) + ".\n")
    return "".join(parts)


def test_invalid_inputs_doc_is_current():
    text = render()
    if os.environ.get("HFOPT_REGEN_DOCS") == "1":
        DOC.write_text(text, encoding="utf-8")
        return
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert current == text, (
        f"{DOC.relative_to(ROOT)} is out of date with the INVALID_CASES of the tests; regenerate it with "
        "HFOPT_REGEN_DOCS=1 .venv/bin/python -m pytest tests/test_invalid_inputs_doc.py and commit it")


def test_every_case_module_is_found_and_rows_name_their_argument():
    modules = _modules_with_cases()
    assert any(p.name == "test_schedules_invalid.py" for p in modules)
    text = render()
    assert "| `get_scheduler('linear')` | `num_warmup_steps` | `nan` | `ValueError` |" in text
