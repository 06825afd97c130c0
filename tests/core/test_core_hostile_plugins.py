"""Plugins whose hooks give junk: each is reported broken with its distribution and a bounded reason,
never a hang or a traceback, and every other plugin keeps working."""
from __future__ import annotations

import pytest
from fakedists import make_dist

import hfopt_core
from hfopt_core import HfoptPluginWarning, get_scheduler
from hfopt_core._isolation import MAX_SPECS
from hfopt_core.cli import main as cli_main

HOOK = """
import itertools
from hfopt_core.plugin import ScheduleSpec, hookimpl

@hookimpl
def hfopt_schedules():
{body}
"""

#: distribution -> (hook body, what its broken reason says)
JUNK = {
    "acme-endless": ("    for i in itertools.count():\n"
                     "        yield ScheduleSpec(name=f'n{i}', factory='acme_endless:f', frameworks=('python',))",
                     f"hook hfopt_schedules raised ValueError: hfopt_schedules gave more than {MAX_SPECS} specs"),
    "acme-int": ("    return 12345", "hfopt_schedules must return ScheduleSpec objects, got 12345"),
    "acme-none-item": ("    yield None", "hfopt_schedules must return ScheduleSpec objects, got None"),
    "acme-big-junk": ("    yield 'x' * 1_000_000", "got 'xxxx"),
    "acme-exit": ("    raise SystemExit(4)", "hook hfopt_schedules raised SystemExit: 4"),
}


def _make(site):
    for dist, (body, _) in JUNK.items():
        module = dist.replace("-", "_")
        make_dist(site, dist, "1.0", module, HOOK.format(body=body))


def test_junk_hooks_are_broken_with_a_bounded_reason_and_the_rest_works(site, capsys):
    _make(site)
    with pytest.warns(HfoptPluginWarning):
        listed = {p.name: p for p in hfopt_core.list_plugins()}
    for dist, (_, reason) in JUNK.items():
        assert listed[dist].status == "broken", (dist, listed[dist])
        assert reason in listed[dist].reason, (dist, listed[dist].reason)
        assert len(listed[dist].reason) < 500, (dist, len(listed[dist].reason))
    assert "(1000002 characters)" in listed["acme-big-junk"].reason
    assert get_scheduler("linear", None, 2, 10)(1) == 0.5  # the first-party plugins are intact
    assert cli_main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(dist in out for dist in JUNK) and "Traceback" not in out
    assert cli_main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert all(f"{dist}==1.0 is broken" in out for dist in JUNK) and "Traceback" not in out


def test_a_plugin_giving_exactly_the_limit_is_fine(site):
    body = ("    for i in range({n}):\n"
            "        yield ScheduleSpec(name=f'acme_{{i}}', factory='acme_many:f', frameworks=('python',))")
    make_dist(site, "acme-many", "1.0", "acme_many", HOOK.format(body=body.format(n=MAX_SPECS)))
    listed = {p.name: p for p in hfopt_core.list_plugins()}
    assert listed["acme-many"].status == "ok"
    assert f"acme_{MAX_SPECS - 1}" in hfopt_core.get_manager().names("schedule")


IMPORT_RAISES = """
class Hostile(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")

raise {error}
"""


@pytest.mark.parametrize(("error", "reason"), [
    ("Hostile()", "failed to import 'acme_raises': Hostile: (its message cannot be shown)"),
    ("ImportError('line one\\n  line two\\n' + 'x' * 5000)",
     "failed to import 'acme_raises': ImportError: line one line two xxxx"),
])
def test_an_import_error_is_one_bounded_line_even_when_its_message_is_hostile(site, capsys, error, reason):
    make_dist(site, "acme-raises", "1.0", "acme_raises", IMPORT_RAISES.format(error=error))
    with pytest.warns(HfoptPluginWarning):
        listed = {p.name: p for p in hfopt_core.list_plugins()}
    assert listed["acme-raises"].status == "broken"
    assert listed["acme-raises"].reason.startswith(reason), listed["acme-raises"].reason
    assert "\n" not in listed["acme-raises"].reason and len(listed["acme-raises"].reason) < 700
    assert cli_main(["doctor"]) == 1 and "acme-raises==1.0 is broken" in capsys.readouterr().out
