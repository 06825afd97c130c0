"""Write the public API of ``hfopt_core`` at a git commit as a griffe JSON snapshot.

    .venv/bin/python tests/core/api/snapshot.py COMMIT OUTPUT.json

The snapshots in this folder are what ``test_core_api_stability.py`` compares the working tree
against with :func:`griffe.find_breaking_changes`. They are committed (a fresh or shallow clone
has no history to load the old release from). Docstrings are dropped: the check compares names,
kinds and signatures only.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import griffe

ROOT = Path(__file__).resolve().parents[3]


def _strip(node):
    if isinstance(node, dict):
        node = {k: _strip(v) for k, v in node.items() if k not in ("docstring", "source")}
        if isinstance(node.get("filepath"), str):  # griffe's temporary worktree -> the repository path
            node["filepath"] = "hfopt_core" + node["filepath"].rpartition("/hfopt_core")[2]
        return node
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def main(commit: str, output: str) -> None:
    """Dump ``hfopt_core`` as of ``commit`` (loaded from git by griffe) to ``output``."""
    module = griffe.load_git("hfopt_core", ref=commit, repo=ROOT, resolve_aliases=False)
    data = _strip(json.loads(module.as_json()))
    Path(output).write_text(json.dumps(data, indent=None, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
