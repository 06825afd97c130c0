"""Extract the ```python blocks of a Markdown file and run them, in order, in one namespace.

A block is skipped when the line directly above its opening fence (blank lines aside) is an HTML
comment ``<!-- not-run: reason -->``; the reason is required. Run as a script
(``python doc_examples.py FILE.md``) it executes the file's blocks and exits non-zero on the first
failure, with a traceback that points at the Markdown file and line.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^(?P<indent>[ ]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
_NOT_RUN = re.compile(r"^\s*<!--\s*not-run\s*:\s*(?P<reason>.*?)\s*-->\s*$")
PYTHON_LANGS = ("python", "py", "python3")


@dataclass(frozen=True)
class Block:
    """One fenced code block.

    Args:
        lang: the info string's first word (``"python"``, ``"bash"``, ``""``).
        line: 1-based line of the first code line in the file.
        code: the block's text.
        skip: the ``not-run`` reason, or ``None`` when the block runs.
    """

    lang: str
    line: int
    code: str
    skip: str | None

    @property
    def runs(self) -> bool:
        """Whether this is a Python block that is not marked ``not-run``."""
        return self.lang in PYTHON_LANGS and self.skip is None


def blocks(text: str) -> list[Block]:
    """Every fenced block of ``text`` in order. A ``not-run`` marker without a reason is a ``ValueError``."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, indent = match["fence"], len(match["indent"])
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = _NOT_RUN.match(previous)
        if marker and not marker["reason"]:
            raise ValueError(f"line {i}: a not-run marker needs a reason: <!-- not-run: why -->")
        body, j = [], i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence[0] * len(fence))
                                      and set(lines[j].strip()) == {fence[0]}):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        out.append(Block(match["info"].lower(), i + 2, "\n".join(body) + "\n", marker["reason"] if marker else None))
        i = j + 1
    return out


def run_file(path: Path) -> None:
    """Execute the runnable blocks of ``path`` in one namespace; line numbers match the file."""
    namespace = {"__name__": "__main__"}
    for block in blocks(path.read_text(encoding="utf-8")):
        if block.runs:
            code = compile("\n" * (block.line - 1) + block.code, str(path), "exec")
            exec(code, namespace)


if __name__ == "__main__":
    run_file(Path(sys.argv[1]))
