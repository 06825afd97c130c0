"""Every ```python block of docs/integrations/*.md runs as written (one subprocess per page).

tests/docs/test_docs_examples.py runs the pages directly under docs/; the integration pages live one
folder down and run here, with the same extractor and environment.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DOCS_TESTS = Path(__file__).resolve().parents[1] / "docs"
sys.path.insert(0, str(DOCS_TESTS))
from doc_examples import blocks  # noqa: E402
from test_docs_examples import ROOT, clean_env  # noqa: E402

PAGES = sorted((ROOT / "docs" / "integrations").glob("*.md"))


def test_there_are_integration_pages():
    assert {p.name for p in PAGES} >= {"transformers.md", "lightning-hydra.md"}


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_integration_page_examples_run_as_written(path, tmp_path):
    runnable = [b for b in blocks(path.read_text(encoding="utf-8")) if b.runs]
    assert runnable, f"{path.name} has no runnable python block"
    # transformers imports TensorFlow whenever it is installed (the dev environment has it); USE_TF=0,
    # transformers' own switch, skips that import (half the page's time) without changing the examples
    env = {**clean_env(), "USE_TF": "0"}
    result = subprocess.run([sys.executable, str(DOCS_TESTS / "doc_examples.py"), str(path)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{path.relative_to(ROOT)}: an example failed\n{result.stderr[-4000:]}"
