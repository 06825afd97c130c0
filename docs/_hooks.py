"""mkdocs hooks of the hfopt site (``hooks:`` in mkdocs.yml); nothing here touches the network.

* ``on_config``: every page of ``docs/`` missing from ``nav`` is appended under "More", so a new
  page is always part of the site (and of the ``--strict`` build).
* ``on_files``: draws the curve of every installed schedule with ``hfopt plot`` into a temporary
  folder and adds the PNGs to the site as ``img/schedules/<name>.png`` (never committed).
* ``on_page_markdown``: adds those curves to ``schedules.md``, at the line
  ``<!-- schedule-curves -->`` when the page has one, else at its end, and the table of installed
  schedules (from their declarations) at ``<!-- schedule-table -->``; replaces each line
  ``<!-- hfopt-help: COMMAND -->`` of any page with the output of ``hfopt COMMAND --help``.
* ``on_page_content``: the docstrings are written for Sphinx as well; their roles
  (``:class:`~pkg.Name```) become plain code (``Name``) and ``Example::`` loses a colon.
"""
from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import tempfile
from pathlib import Path

from mkdocs.structure.files import File

WARMUP, STEPS = 100, 1000


def _settings(spec) -> dict:
    """The ``--set`` values of a schedule's curve: the example arguments its plugin declares."""
    return dict(spec.example)
MARKER = "<!-- schedule-curves -->"
TABLE_MARKER = "<!-- schedule-table -->"
_state: dict = {"tmp": None, "curves": [], "refused": []}


def _nav_files(items) -> set[str]:
    found = set()
    for item in items or []:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            found |= _nav_files(value)
        elif isinstance(value, str):
            found.add(value)
    return found


def on_config(config):
    """Append the pages of docs/ that nav does not list under "More"."""
    docs = Path(config["docs_dir"])
    listed = _nav_files(config["nav"])
    missing = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md")
                     if p.relative_to(docs).as_posix() not in listed)
    if config["nav"] is not None and missing:
        config["nav"].append({"More": [{Path(m).stem.replace("-", " ").capitalize(): m} for m in missing]})
    return config


def _plot(argv: list[str]) -> tuple[int, str]:
    from hfopt_core.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue().strip()


def _overview(plotted):
    """The schedules drawn together, and their ``--set`` values: a schedule joins unless one of its
    settings would also reach another schedule (``--set`` goes to every schedule that accepts the key)."""
    from hfopt_core._plot import _accepted, plottable_spec

    accepts = {name: _accepted(plottable_spec(name)) for name, _ in plotted}
    names, settings = [], {}
    for name, own in plotted:
        clean = all({n for n, a in accepts.items() if a is None or key in a}
                    == {n for n, s in plotted if s.get(key) == value} for key, value in own.items())
        if clean:
            names.append(name)
            settings.update(own)
    return names, settings


def on_files(files, config):
    """Draw each installed schedule's curve with ``hfopt plot`` and add the PNGs to the site."""
    from hfopt_core import get_manager

    _state.update(curves=[], refused=[], overview=None)
    if files.get_file_from_path("schedules.md") is None:  # no page to show them on
        return files
    tmp = Path(tempfile.mkdtemp(prefix="hfopt-docs-"))
    _state["tmp"] = tmp
    plotted = []
    for spec in get_manager().specs("schedule"):
        if "python" not in spec.frameworks:
            code, err = _plot(["plot", spec.name, "--csv", "-o", str(tmp / "refused.csv")])
            _state["refused"].append((spec, err.removeprefix("hfopt plot: error: ")))
            continue
        argv = ["plot", spec.name, "--warmup", str(WARMUP), "--steps", str(STEPS)]
        for key, value in _settings(spec).items():
            argv += ["--set", f"{key}={value}"]
        target = tmp / f"{spec.name}.png"
        code, err = _plot([*argv, "-o", str(target)])
        if code != 0:
            _state["refused"].append((spec, err.removeprefix("hfopt plot: error: ")))
            continue
        _state["curves"].append((spec, f"hfopt {shlex.join(argv)} -o {spec.name}.png"))
        plotted.append((spec.name, _settings(spec)))
    overview, settings = _overview(plotted)
    if overview:
        argv = ["plot", *overview, "--warmup", str(WARMUP), "--steps", str(STEPS)]
        for key, value in settings.items():
            argv += ["--set", f"{key}={value}"]
        code, err = _plot([*argv, "-o", str(tmp / "all.png")])
        if code == 0:
            _state["overview"] = f"hfopt {shlex.join(argv)} -o all.png"
    for png in sorted(tmp.glob("*.png")):
        files.append(File.generated(config, f"img/schedules/{png.name}", abs_src_path=str(png)))
    return files


def _formula(spec) -> str | None:
    """The first literal block (after a line ending in ``::``) of the schedule module's docstring."""
    from hfopt_core._show import describe

    lines = describe(spec)["module_docstring"].splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().endswith("::"):
            block = []
            for follow in lines[i + 1:]:
                if follow.strip() and not follow.startswith((" ", "\t")):
                    break
                block.append(follow)
            text = "\n".join(block).strip("\n")
            if text.strip():
                indent = min(len(x) - len(x.lstrip()) for x in text.splitlines() if x.strip())
                return "\n".join(x[indent:] for x in text.splitlines())
    return None


def _curves_markdown() -> str:
    lines = ["## Curves", "",
             f"Drawn at build time by `hfopt plot` (warmup {WARMUP}, {STEPS} steps) for every schedule "
             "installed where the site is built; the command under each image redraws it.", ""]
    if _state.get("overview"):
        lines += ["![the schedules together](img/schedules/all.png)", "", f"`{_state['overview']}`", ""]
    for spec, command in _state["curves"]:
        lines += [f"### `{spec.name}`", "", f"{spec.summary} ({spec.source})." if spec.summary else "", ""]
        formula = _formula(spec)
        if formula:
            lines += ["```text", formula, "```", ""]
        lines += [f"![{spec.name}](img/schedules/{spec.name}.png)", "", f"`{command}`", ""]
    if _state["refused"]:
        lines += ["### Schedules without a curve", ""]
        lines += [f"- `{spec.name}` ({spec.source}): {reason}" for spec, reason in _state["refused"]]
        lines.append("")
    return "\n".join(lines)


def _table_markdown() -> str:
    """The table of installed schedules, from their declarations: name, aliases, distribution, factory
    signature, frameworks, example arguments and summary (nothing restated by hand)."""
    from hfopt_core import SchedulerType, get_manager
    from hfopt_core._show import describe

    members = {m.value for m in SchedulerType}
    lines = ["| name | distribution / function | frameworks | example arguments | what it does |",
             "| --- | --- | --- | --- | --- |"]
    for spec in get_manager().specs("schedule"):
        info = describe(spec)
        name = f"`{spec.name}`" + (" (`SchedulerType`)" if spec.name in members else "")
        if spec.aliases:
            name += ", alias " + ", ".join(f"`{a}`" for a in spec.aliases)
        function = f"`{info['signature']}`" if info["signature"] else f"`{spec.factory}`"
        example = ", ".join(f"`{k}={v!r}`" for k, v in spec.example.items()) or "-"
        lines.append(f"| {name} | `{info['distribution']}` / {function} | {', '.join(spec.frameworks)} | "
                     f"{example} | {spec.summary} |")
    return "\n".join(lines)


_HELP = re.compile(r"^<!-- hfopt-help: *(?P<command>[a-z]*) *-->$", re.MULTILINE)


def _help(match: re.Match) -> str:
    from hfopt_core.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([*match["command"].split(), "--help"])
    return "```text\n" + out.getvalue().strip().replace("usage: -", "usage: hfopt") + "\n```"


def on_page_markdown(markdown, page, config, files):
    """Add the generated curves to the schedules page and ``hfopt --help`` texts where asked."""
    markdown = _HELP.sub(_help, markdown)
    if page.file.src_uri != "schedules.md":
        return markdown
    if TABLE_MARKER in markdown:
        markdown = markdown.replace(TABLE_MARKER, _table_markdown(), 1)
    section = _curves_markdown()
    if MARKER in markdown:
        return markdown.replace(MARKER, section, 1)
    return markdown.rstrip() + "\n\n" + section


_ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|exc|obj):<code>(~?)([\w.]+)</code>")


def on_page_content(html, page, config, files):
    """Render the Sphinx roles and ``::`` of the docstrings as plain Markdown would."""
    html = _ROLE.sub(lambda m: f"<code>{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}</code>", html)
    return html.replace("::</p>", ":</p>")


def on_post_build(config):
    """Remove the temporary folder of the generated curves."""
    if _state.get("tmp") is not None:
        shutil.rmtree(_state["tmp"], ignore_errors=True)
        _state["tmp"] = None
