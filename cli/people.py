"""The commands about people: ``users`` (who may sign in to the dashboard, with which role) and ``audit``.

Run as the administrator at this machine (``access.local_actor``); every change is audited.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from cli.common import EXIT_OK, EXIT_UNREADABLE, with_db
from pipelines.common import names
from pipelines.signin import access
from pipelines.warehouse.store import connect, print_waiting


def _password(args: argparse.Namespace) -> str | None:
    """The password from stdin (--password-stdin, for scripts) or asked for twice at the terminal."""
    if args.password_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")  # the line ending only, LF or CRLF
    if not sys.stdin.isatty():
        raise access.AccessError("no terminal to ask for the password: pass it with --password-stdin")
    first, second = getpass.getpass("Password: "), getpass.getpass("Again: ")
    if first != second:
        raise access.AccessError("the two passwords differ")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    """Manage the users of the dashboard's sign-in, as the administrator at this machine."""
    from metrics.kpis.catalog import FILTER_DIMENSIONS

    con = connect(args.db, on_wait=print_waiting)
    actor = access.local_actor()
    try:
        if args.users_command == "list":
            print(names.frame_text(access.users(con), args.csv))  # escaped: no name reaches the terminal raw
            return EXIT_OK
        segments = access.parse_segments(args.segment, FILTER_DIMENSIONS) if "segment" in args else None
        if args.users_command == "add":
            password = None if args.no_password else _password(args)
            name = access.perform(con, actor, "add_user", access.add_user, args.name, args.role, password, segments,
                                  created_by=actor.name, target=names.canonical(args.name))  # fmt: skip
            print(f"user {names.printable(name)} added as {args.role}")
        elif args.users_command == "set-role":
            name = access.perform(con, actor, "set_role", access.set_role, args.name, args.role, segments,
                                  target=args.name)  # fmt: skip
            print(f"user {names.printable(name)} is now {args.role}")
        elif args.users_command == "set-password":
            name = access.perform(con, actor, "set_password", access.set_password, args.name, _password(args),
                                  target=args.name)  # fmt: skip
            print(f"password of {names.printable(name)} set")
        else:
            name = access.perform(con, actor, "disable_user", access.disable_user, args.name, not args.enable,
                                  target=args.name)  # fmt: skip
            print(f"user {names.printable(name)} {'enabled' if args.enable else 'disabled'}")
    except access.AccessError as exc:
        print(f"csat-radar: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    finally:
        con.close()
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    con = connect(args.db, read_only=True, on_wait=print_waiting)
    try:
        entries = access.audit_entries(con, args.limit)
    finally:
        con.close()
    print(names.frame_text(entries, args.csv))  # escaped: names typed at sign-in reach the terminal too
    return EXIT_OK


def add_users(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="users and roles of the dashboard's sign-in")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    with_db(users_sub.add_parser("list", help="every user with role and segments")).add_argument(
        "--csv", action="store_true"
    )
    for name, text in (("add", "add a user"), ("set-role", "change a user's role and segments")):
        command = with_db(users_sub.add_parser(name, help=text))
        command.add_argument("name")
        command.add_argument("--role", required=True, choices=access.roles())
        command.add_argument("--segment", action="append", default=[], metavar="DIMENSION=VALUE",
                             help="limit the user to this segment (repeatable)")  # fmt: skip
        if name == "add":
            command.add_argument("--no-password", action="store_true", help="identity-provider sign-in only")
            command.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    password = with_db(users_sub.add_parser("set-password", help="set a user's password"))
    password.add_argument("name")
    password.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    disable = with_db(users_sub.add_parser("disable", help="disable a user (--enable to undo)"))
    disable.add_argument("name")
    disable.add_argument("--enable", action="store_true")
    users.set_defaults(handler=cmd_users)


def add_audit(sub: argparse._SubParsersAction) -> None:
    audit = with_db(sub.add_parser("audit", help="the audit log, newest first"))
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--csv", action="store_true")
    audit.set_defaults(handler=cmd_audit)
