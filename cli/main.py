"""The ``csat-radar`` command line: its parser and the dispatch to one handler per command.

The commands live by group: ``cli.load`` (ingest, demo, undo, status), ``cli.serve``,
``cli.answers`` (kpis, crises, backtest, report), ``cli.notify`` (notify test), ``cli.people``
(users, audit) and ``cli.lake`` (lake export, marts build). Every failure a user can cause ends in one line
on stderr and a non-zero exit code, never a traceback (set CSAT_RADAR_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import os
import sys

from cli import answers, lake, load, notify, people, serve
from cli.common import EXIT_FAILED, EXIT_UNREADABLE
from pipelines.common.diskspace import is_disk_full
from pipelines.common.errors import IngestError

# In the order ``csat-radar --help`` lists them, the order users have always seen.
COMMANDS = (
    load.add_ingest,
    load.add_demo,
    serve.add_serve,
    answers.add_kpis,
    answers.add_crises,
    notify.add_notify,
    answers.add_backtest,
    answers.add_report,
    load.add_undo,
    people.add_users,
    people.add_audit,
    load.add_status,
    lake.add_lake,
    lake.add_marts,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csat-radar", description="Customer-satisfaction analytics and crisis radar.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add_command in COMMANDS:
        add_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except IngestError as exc:
        print(f"csat-radar: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except KeyboardInterrupt:
        print("csat-radar: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("CSAT_RADAR_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        label = "no space left on the disk" if is_disk_full(exc) else f"unexpected error: {type(exc).__name__}"
        print(f"csat-radar: {label}: {first}", file=sys.stderr)
        return EXIT_UNREADABLE if is_disk_full(exc) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
