"""Hostile ``@file`` specs and spec texts: refused at once with the file named, never a hang, a
memory blow-up or a traceback; YAML is read with ``safe_load`` only (its Python tags run nothing)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from hfopt_core.specs import MAX_SPEC_DEPTH, MAX_SPEC_FILE_BYTES, MAX_SPEC_VALUES, parse_spec

yaml = pytest.importorskip("yaml")


def parse_quickly(text, timeout=20.0):
    """``parse_spec(text)`` in a thread that must finish within ``timeout`` seconds (a FIFO would block)."""
    result = {}

    def run():
        try:
            result["value"] = parse_spec(text)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"parse_spec({text!r}) still running after {timeout} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_json_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "spec.json"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match=r"cannot read spec file '.*spec\.json': not a regular file"):
        parse_quickly(f"@{fifo}")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_behind_a_json_name_is_refused_without_reading_it(tmp_path):
    link = tmp_path / "zero.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(ValueError, match="not a regular file"):
        parse_quickly(f"@{link}")


def test_a_directory_named_json_is_refused(tmp_path):
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(ValueError, match=r"cannot read spec file '.*dir\.yaml': not a regular file"):
        parse_spec(f"@{tmp_path / 'dir.yaml'}")


def test_a_file_over_the_size_limit_is_refused(tmp_path):
    path = tmp_path / "big.json"
    path.write_text('"' + "a" * MAX_SPEC_FILE_BYTES + '"')
    with pytest.raises(ValueError, match=f"larger than {MAX_SPEC_FILE_BYTES} bytes"):
        parse_spec(f"@{path}")
    path.write_text('"cosine"' + " " * (MAX_SPEC_FILE_BYTES - 8))  # exactly at the limit: read
    assert parse_spec(f"@{path}") == "cosine"


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"name": "cos\xefne"}')
    with pytest.raises(ValueError, match=r"spec file '.*latin\.json' is not UTF-8 text: invalid continuation byte"):
        parse_spec(f"@{path}")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path, suffix):
    path = tmp_path / f"deep{suffix}"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_spec(f"@{path}")
    with pytest.raises(ValueError, match="nested too deeply|too large"):
        parse_spec("[" * (MAX_SPEC_DEPTH + 2) + "]" * (MAX_SPEC_DEPTH + 2))


def test_a_yaml_alias_bomb_is_refused_before_it_is_walked(tmp_path):
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]  # 10**10 values
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines + ["name: cosine", "num_cycles: *a9"]) + "\n")
    with pytest.raises(ValueError, match=f"too large: a spec holds at most {MAX_SPEC_VALUES} values"):
        parse_quickly(f"@{path}")


def test_an_integer_of_more_digits_than_python_converts_is_a_clear_error(tmp_path):
    path = tmp_path / "digits.json"
    path.write_text('{"name": "polynomial", "power": 1' + "0" * 5000 + "}")
    with pytest.raises(ValueError, match=r"spec file '.*digits\.json' is not a usable JSON document"):
        parse_spec(f"@{path}")


@pytest.mark.parametrize("document", [
    "!!python/object/apply:os.system ['echo RAN > {marker}']",
    "name: !!python/object/apply:builtins.print ['PRINTED']",
    "!!python/name:os.system",
])
def test_yaml_python_tags_run_nothing(tmp_path, document):
    marker = tmp_path / "ran.marker"
    path = tmp_path / "evil.yaml"
    path.write_text(document.replace("{marker}", str(marker)) + "\n")
    with pytest.raises(ValueError, match="is not valid YAML"):
        parse_spec(f"@{path}")
    assert not marker.exists()


def test_the_cli_reports_hostile_files_in_one_line(tmp_path):
    (tmp_path / "d.json").mkdir()
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    for path in ("d.json", "deep.json"):
        out = subprocess.run([sys.executable, "-m", "hfopt_core.cli", "show", f"@{tmp_path / path}"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 1, out
        assert "Traceback" not in out.stderr, out.stderr
        assert out.stderr.startswith(("hfopt show: error: spec file", "hfopt show: error: cannot read spec file")), \
            out.stderr


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_an_integer_beyond_float_range_is_refused_at_parse(tmp_path, suffix):
    huge = "1" + "0" * 400  # was an OverflowError traceback in hfopt plot
    path = tmp_path / f"huge{suffix}"
    path.write_text('{"name": "polynomial", "power": %s}' % huge if suffix == ".json" else f"name: polynomial\npower: {huge}\n")
    with pytest.raises(ValueError, match=r"spec file '.*huge\.(json|yaml)' holds an integer too large for a float "
                                         r"\(401 digits\)$"):
        parse_spec(f"@{path}")
    with pytest.raises(ValueError, match=r"^spec holds an integer too large for a float \(401 digits\)$"):
        parse_spec('[{"name": "constant", "steps": %s}]' % huge)
    assert parse_spec('{"name": "polynomial", "power": %d}' % 2**1000)["power"] == 2**1000  # within range: kept


def test_the_cli_reports_a_huge_integer_in_a_spec_file_in_one_line(tmp_path):
    path = tmp_path / "huge.json"
    path.write_text('{"name": "polynomial", "num_warmup_steps": 1, "power": 1%s}' % ("0" * 400))
    out = subprocess.run([sys.executable, "-m", "hfopt_core.cli", "plot", f"@{path}", "--steps", "10", "-o",
                          str(tmp_path / "x.png")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "holds an integer too large for a float (401 digits)" in out.stderr
