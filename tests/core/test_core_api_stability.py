"""The public API of hfopt-core does not break within 0.1 (griffe's breaking-change check).

The working tree's ``hfopt_core`` (loaded statically by griffe, nothing imported) is compared with
committed snapshots of released 0.1 states (``tests/core/api/*.json``, written by
``tests/core/api/snapshot.py``): additions pass; a removed public module, name, parameter or a
changed default fails, naming each break. A break that is deliberate and harmless is listed in
``ACCEPTED`` with the reason; anything else needs a deprecated alias first (see CHANGELOG.md).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import griffe
import pytest

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = {
    "0.1.0 as first published (57484dd, the November plugin docs)": "hfopt-core-0.1.0.json",
    "0.1.0 with the declared plugin API hfopt_core.plugin (66eed5f)": "hfopt-core-0.1.0-66eed5f.json",
}

#: (object path, breakage kind) -> why it does not break a caller
ACCEPTED = {
    ("hfopt_core.schedules.StepFunction.__init__", "Public object was removed"):
        "StepFunction is a functools.partial subclass since 0.1: StepFunction(formula, **params) builds it as before",
    ("hfopt_core.schedules.StepFunction.__call__", "Public object was removed"):
        "inherited from functools.partial: step_function(step) returns the multiplier as before",
    ("hfopt_core.schedules.StepFunction.__slots__", "Public object was removed"):
        "an implementation detail of the old class; partial keeps its arguments out of __dict__ too",
    ("hfopt_core.errors.UnknownNameError.__init__", "Positional parameter was moved"):
        "the two 0.1 states disagree (distribution=, then hint= fifth): the first published order wins; hint is "
        "passed by keyword everywhere",
    **{(f"hfopt_core.types.{spec}.__init__", "Parameter default was changed"):
       "exports defaults to () instead of {}: both mean no exports, and the field is normalized to a mapping"
       for spec in ("ComponentSpec", "ScheduleSpec", "OptimizerSpec", "AccumulatorSpec")},
}


def _snapshot(filename: str):
    text = (ROOT / "tests" / "core" / "api" / filename).read_text()
    module = json.loads(text, object_hook=griffe.json_decoder)
    collection = griffe.ModulesCollection()
    collection.set_member(module.path, module)
    module._modules_collection = collection  # what griffe.load sets; aliases resolve inside the snapshot
    return module


def _current(package: Path = ROOT / "hfopt_core"):
    return griffe.load(str(package), resolve_aliases=False)  # by path: the working tree, not what is installed


def _breaks(old, new) -> list[str]:
    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for breakage in griffe.find_breaking_changes(old, new):
            if (breakage.obj.path, breakage.kind.value) in ACCEPTED:
                continue
            found.append(f"{breakage.obj.path}: {breakage.kind.value}"
                         + (f" ({breakage.old_value} -> {breakage.new_value})"
                            if breakage.kind.value.startswith("Parameter") else ""))
    return found


@pytest.mark.parametrize("release", list(SNAPSHOTS))
def test_no_public_api_break_since_the_release(release):
    breaks = _breaks(_snapshot(SNAPSHOTS[release]), _current())
    assert not breaks, (
        f"the public API of hfopt_core breaks hfopt-core {release}:\n  " + "\n  ".join(breaks)
        + "\nKeep the old name/signature working (a deprecated alias: see hfopt_core/_deprecated.py and "
          "CHANGELOG.md); removals wait for the next minor version.")


def test_the_check_sees_a_removal(tmp_path):
    # the check itself: a copy of the package without a 0.1 module or parameter fails it
    import shutil

    copy = tmp_path / "hfopt_core"
    shutil.copytree(ROOT / "hfopt_core", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "formulas.py").unlink()
    text = (copy / "errors.py").read_text().replace("suggestion=None, distribution=None,", "suggestion=None,")
    (copy / "errors.py").write_text(text)
    breaks = _breaks(_snapshot(SNAPSHOTS[next(iter(SNAPSHOTS))]), _current(copy))
    assert "hfopt_core.formulas: Public object was removed" in breaks
    assert any(b.startswith("hfopt_core.errors.UnknownNameError.__init__: Parameter was removed") for b in breaks)


def test_accepted_breaks_are_still_breaks():
    # an entry of ACCEPTED that no longer matches anything is stale and must go
    seen = set()
    current = _current()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for filename in SNAPSHOTS.values():
            seen |= {(b.obj.path, b.kind.value) for b in griffe.find_breaking_changes(_snapshot(filename), current)}
    assert set(ACCEPTED) <= seen, sorted(set(ACCEPTED) - seen)
