"""Every ```python block of README.md and docs/*.md runs as written (one subprocess per file).

Blocks of one file run in order in one namespace, in a fresh interpreter whose working
directory is a temporary folder, so a crash or a framework import stays out of the test process.
A block whose fence is preceded by ``<!-- not-run: reason -->`` is skipped.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from doc_examples import Block, blocks  # noqa: E402

ROOT = HERE.parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HFOPT_", "PYTEST_"))}
    env.update(MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", PYTHONHASHSEED="0")
    return env


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_doc_examples_run_as_written(path, tmp_path):
    runnable = [b for b in blocks(path.read_text(encoding="utf-8")) if b.runs]
    if not runnable:
        pytest.skip(f"{path.name} has no runnable python block")
    result = subprocess.run([sys.executable, str(HERE / "doc_examples.py"), str(path)], cwd=tmp_path,
                            env=clean_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{path.relative_to(ROOT)}: an example failed\n{result.stderr[-4000:]}"


def test_the_site_has_python_examples_that_run():
    counted = sum(b.runs for p in DOC_FILES for b in blocks(p.read_text(encoding="utf-8")))
    assert counted >= 5


# -- the extractor ----------------------------------------------------------------------------------
SAMPLE = """\
# Title

```python
x = 1
```

<!-- not-run: needs a GPU -->
```python
raise SystemExit("never")
```

```bash
echo no
```

- a list item with an indented block:

  ```python
  y = x + 1
  ```

````python
z = "```"
````
"""


def test_blocks_are_found_in_order_with_their_lines_and_markers():
    found = blocks(SAMPLE)
    assert [(b.lang, b.line, b.skip) for b in found] == [
        ("python", 4, None), ("python", 9, "needs a GPU"), ("bash", 13, None), ("python", 19, None),
        ("python", 23, None)]
    assert found[3].code == "y = x + 1\n" and found[4].code == 'z = "```"\n'
    assert [b.runs for b in found] == [True, False, False, True, True]


def test_blocks_nested_deep_in_lists_are_found():
    [block] = blocks("1. item\n\n    - nested\n\n        ```python\n        a = 1\n        ```\n")
    assert (block.line, block.code, block.runs) == (6, "a = 1\n", True)


def test_a_not_run_marker_needs_a_reason():
    with pytest.raises(ValueError, match="needs a reason"):
        blocks("<!-- not-run: -->\n```python\npass\n```\n")


def test_a_failing_block_reports_the_markdown_file_and_line(tmp_path):
    doc = tmp_path / "page.md"
    doc.write_text("text\n\n```python\nvalue = 1\n```\n\nmore\n\n```python\nassert value == 2, 'wrong'\n```\n")
    result = subprocess.run([sys.executable, str(HERE / "doc_examples.py"), str(doc)], cwd=tmp_path,
                            env=clean_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f'File "{doc}", line 10' in result.stderr and "AssertionError: wrong" in result.stderr


def test_block_runs_property():
    assert Block("py", 1, "", None).runs and not Block("python", 1, "", "why").runs
    assert not Block("", 1, ">>> 1", None).runs
