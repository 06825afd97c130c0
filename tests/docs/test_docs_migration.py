"""docs/migration.md covers every name: the reference's, transformers' schedules, every catalog export."""
from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIGRATION = (ROOT / "docs" / "migration.md").read_text(encoding="utf-8")
REFERENCE = Path("/work/shared/seed/optimization-reference.txt")

#: the public names of transformers' optimization reference (PyTorch and TensorFlow halves).
REFERENCE_NAMES = [
    "AdamW", "Adafactor", "AdafactorSchedule", "AdamWeightDecay", "create_optimizer", "WarmUp",
    "GradientAccumulator", "SchedulerType", "get_scheduler", "get_constant_schedule",
    "get_constant_schedule_with_warmup", "get_cosine_schedule_with_warmup",
    "get_cosine_with_hard_restarts_schedule_with_warmup", "get_linear_schedule_with_warmup",
    "get_polynomial_decay_schedule_with_warmup",
]


def documented(name: str) -> bool:
    """``name`` appears as code in a table row of the page on the transformers side and the hfopt side."""
    rows = [line for line in MIGRATION.splitlines() if line.startswith("|") and re.search(rf"\b{name}\b", line)]
    return any(re.search(rf"from hfopt_core import [\w, ]*\b{name}\b", row.split("|")[2]) for row in rows)


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_every_reference_name_has_a_row(name):
    assert documented(name), name


def test_the_reference_list_matches_the_reference_text():
    if not REFERENCE.exists():
        pytest.skip("the reference text is not available here")
    text = REFERENCE.read_text(encoding="utf-8")
    for name in ("AdamW", "Adafactor", "AdafactorSchedule", "AdamWeightDecay", "GradientAccumulator"):
        assert name in text


def transformers_optimization_names(module: str = "optimization") -> list[str]:
    """Top-level functions, classes and assignments of transformers/<module>.py (4.57.6, a test oracle
    only), read with ast: importing transformers would cost seconds for a list of names."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("transformers (the test oracle) is not installed")
    source = Path(list(spec.submodule_search_locations)[0]) / f"{module}.py"
    names = []
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


@pytest.mark.parametrize("module", ["optimization", "optimization_tf"])
def test_every_public_name_of_transformers_optimization_has_a_row(module):
    public = [n for n in transformers_optimization_names(module) if not n.startswith("_") and n != "logger"]
    assert len(public) >= 4
    for name in public:
        assert documented(name), f"transformers.{module}.{name}"


def test_every_schedule_of_transformers_has_a_row():
    defined = transformers_optimization_names()
    names = [n for n in defined if n.startswith("get_") and "schedule" in n] + ["AdafactorSchedule"]
    assert "get_wsd_schedule" in names and "Adafactor" in defined
    assert len(names) >= 12
    for name in names:
        assert documented(name), name


def test_every_export_of_every_hfopt_distribution_has_a_row():
    from hfopt_core._catalog import DISTRIBUTIONS

    for distribution, (_, exports) in DISTRIBUTIONS.items():
        for name in exports:
            assert documented(name), f"{name} ({distribution})"
            assert f"`{distribution}`" in MIGRATION, distribution
