"""Notifications at the command line: ``csat-radar notify test``, and what ``crises --notify`` prints.

``crises --notify`` is for a scheduler (cron, a systemd timer): it scans, records, tells every
destination of ``notifications.toml`` about the crisis events that qualify, and prints one line
per message sent or failed. ``notify test`` sends a test message to every destination and prints
each result in one line, without touching the warehouse.
"""

from __future__ import annotations

import argparse
import sys

from cli.common import EXIT_FAILED, EXIT_OK
from pipelines.common.errors import IngestError


def notify_config(path: str | None, targets_source: str | None, required: bool = True):
    """The notifications configured beside the targets (or at ``path``); a bad or missing file is one line."""
    from metrics.notify.config import FILE_NAME, NOTIFY_ENV, NotifyConfigError, find_config

    try:
        config = find_config(path, targets_source)
    except NotifyConfigError as exc:
        where, _, problem = str(exc).partition(": ")
        raise IngestError(where, problem) from None
    if config is None and required:
        raise IngestError(
            FILE_NAME,
            f"no notifications configured: write {FILE_NAME} beside the targets file "
            f"(see docs/notifications.example.toml), or name one with --notify-config or ${NOTIFY_ENV}",
        )
    return config


def print_deliveries(run, machine: bool = False) -> None:
    """One line per message of a ``crises --notify`` run (on stderr when stdout carries JSON)."""
    stream = sys.stderr if machine else sys.stdout
    for delivery in run.deliveries:
        print(delivery.line(run.config.max_attempts), file=stream)
    print(f"notifications: {run.summary()}", file=stream)


def cmd_notify_test(args: argparse.Namespace) -> int:
    from metrics.notify.outbox import send_trial

    config = notify_config(args.notify_config, args.targets)
    results = send_trial(config)
    for result in results:
        print(result.line())
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def add_notify(sub: argparse._SubParsersAction) -> None:
    notify = sub.add_parser("notify", help="crisis notifications: send a test message to every destination")
    actions = notify.add_subparsers(dest="notify_command", required=True)
    test = actions.add_parser("test", help="send a test message to every configured e-mail and webhook")
    test.add_argument("--notify-config", metavar="PATH", help="notifications TOML (default: beside the targets)")
    test.add_argument("--targets", metavar="PATH", help="the targets file whose folder holds notifications.toml")
    test.set_defaults(handler=cmd_notify_test)
