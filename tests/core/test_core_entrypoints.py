"""The fast entry-point reader agrees with importlib.metadata."""
from __future__ import annotations

from importlib import metadata

import pytest

from hfopt_core import entrypoints


@pytest.mark.parametrize("group", ["hfopt", "console_scripts", "pytest11"])
def test_same_entry_points_as_importlib_metadata(group):
    ours = sorted((ep.name, ep.value) for ep in entrypoints.entry_points(group))
    theirs = sorted((ep.name, ep.value) for ep in metadata.entry_points(group=group))
    assert ours == theirs and ours


def test_distribution_and_version_come_from_the_folder():
    found = {ep.name: ep for ep in entrypoints.entry_points("hfopt")}
    assert (found["hfopt-schedule-cosine"].distribution, found["hfopt-schedule-cosine"].version) == (
        "hfopt-schedule-cosine", metadata.version("hfopt-schedule-cosine"))


def test_first_distribution_on_the_path_wins_and_egg_info_is_read(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for root, version in ((first, "2.0"), (second, "1.0")):
        info = root / f"Acme_Thing-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "entry_points.txt").write_text(f"[other]\nx = y\n\n[hfopt]\nacme-thing = acme.v{version[0]}:hooks\n")
    egg = second / "legacy.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: legacy\nVersion: 0.3\n")
    (egg / "entry_points.txt").write_text("[hfopt]\nlegacy = legacy_plugin\n")
    found = entrypoints.entry_points("hfopt", path=[str(first), str(second)])
    assert [(ep.name, ep.value, ep.distribution, ep.version) for ep in found] == [
        ("acme-thing", "acme.v2:hooks", "acme-thing", "2.0"), ("legacy", "legacy_plugin", "legacy", "0.3")]


def test_load_resolves_module_and_attribute():
    ep = entrypoints.EntryPoint("x", "hfopt_core._ops:PY_OPS", None, None)
    from hfopt_core._ops import PY_OPS

    assert ep.load() is PY_OPS
