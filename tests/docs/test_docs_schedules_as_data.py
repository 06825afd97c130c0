"""The YAML and JSON specs of docs/schedules-as-data.md (and the README's) build what the page says.

The page's Python examples run through test_docs_examples.py; here every ```yaml and ```json block
is parsed as a user's config file would be (through ``parse_spec`` and ``@file``) and built on torch
and as the plain callable, and the warmup-then-cosine spec is checked against its closed form.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from doc_examples import blocks  # noqa: E402

from hfopt_core import get_scheduler  # noqa: E402
from hfopt_core.specs import parse_spec  # noqa: E402

ROOT = HERE.parents[1]
PAGE = ROOT / "docs" / "schedules-as-data.md"


def data_blocks(path: Path):
    return [b for b in blocks(path.read_text(encoding="utf-8")) if b.lang in ("yaml", "json")]


def test_the_page_has_yaml_and_json_specs():
    langs = [b.lang for b in data_blocks(PAGE)]
    assert langs.count("yaml") >= 3 and langs.count("json") >= 1


@pytest.mark.parametrize("block", data_blocks(PAGE) + data_blocks(ROOT / "README.md"),
                         ids=lambda b: f"{b.lang}-line{b.line}")
def test_each_spec_builds_on_torch_and_as_a_plain_callable(block, tmp_path):
    path = tmp_path / f"spec.{block.lang}"
    path.write_text(block.code, encoding="utf-8")
    spec = parse_spec(f"@{path}")
    if block.lang == "json":
        assert spec == json.loads(block.code) == parse_spec(block.code)
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    scheduler = get_scheduler(spec, optimizer, num_training_steps=1000)
    multiplier = get_scheduler(spec, None, num_training_steps=1000)
    seen = []
    for step in range(1000):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0.1 * multiplier(t) for t in range(1000)], rel=1e-12, abs=1e-15)
    assert max(seen) == pytest.approx(0.1) and all(v >= 0 for v in seen)


def test_the_warmup_then_cosine_yaml_is_the_closed_form(tmp_path):
    [block] = [b for b in data_blocks(PAGE) if b.lang == "yaml" and "cosine over the rest" in b.code]
    path = tmp_path / "spec.yaml"
    path.write_text(block.code, encoding="utf-8")
    multiplier = get_scheduler(parse_spec(f"@{path}"), None, num_training_steps=1000)
    warmup = 50  # 5% of 1000

    def closed(t):
        if t < warmup:
            return t / warmup
        return max(0.0, 0.5 * (1 + math.cos(math.pi * (t - warmup) / (1000 - warmup))))

    assert [multiplier(t) for t in range(1000)] == pytest.approx([closed(t) for t in range(1000)], abs=1e-12)
