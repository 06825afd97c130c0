"""The ``hfopt`` command: ``hfopt list`` shows every plugin, its status and what it provides."""
from __future__ import annotations

import argparse
import json
import os
import sys

from .api import list_plugins


def _list(args) -> int:
    plugins = list_plugins()
    if args.json:
        print(json.dumps([p.__dict__ | {"provides": list(p.provides)} for p in plugins], indent=2))
        return 0
    if not plugins:
        print("no hfopt plugins installed")
        return 0
    rows = [(p.distribution or p.name, p.version or "-", p.status,
             ", ".join(p.provides) if p.status == "ok" else p.reason) for p in plugins]
    widths = [max(len(r[i]) for r in rows + [("distribution", "version", "status", "")]) for i in range(3)]
    print(f"{'distribution':<{widths[0]}}  {'version':<{widths[1]}}  {'status':<{widths[2]}}  provides / reason")
    for name, version, status, detail in rows:
        print(f"{name:<{widths[0]}}  {version:<{widths[1]}}  {status:<{widths[2]}}  {detail}")
    broken = sum(p.status == "broken" for p in plugins)
    return 1 if broken and args.strict else 0


def main(argv=None) -> int:
    """Entry point of the ``hfopt`` console script. Returns the exit code."""
    parser = argparse.ArgumentParser(prog="hfopt", description="hfopt plugin registry")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list installed plugins, their status and what they provide")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_list.add_argument("--strict", action="store_true", help="exit 1 when any plugin is broken")
    p_list.set_defaults(run=_list)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # `hfopt list | head`: the reader left, which is fine
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
