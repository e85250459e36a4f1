"""The commands that fill and inspect the warehouse: ``ingest``, ``demo``, ``undo`` and ``status``.

Each writes through the same audited steps the dashboard's Upload page uses; metrics are imported
inside the commands only, so that ``csat-radar --help`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from cli.common import EXIT_OK, EXIT_UNREADABLE, print_as_of, with_db
from pipelines.common.errors import ChoiceNeeded, ColumnNotFound, IngestError
from pipelines.signin import access
from pipelines.stage.overrides import parse_column_overrides
from pipelines.stage.scales import SCALES
from pipelines.warehouse.lake_files import refuse_lake
from pipelines.warehouse.schema import KINDS, TABLES
from pipelines.warehouse.store import (
    close_after_writing,
    connect,
    print_waiting,
    publish_snapshot,
    resolve_db_path,
    table_counts,
    warehouse_as_of,
)


def cmd_ingest(args: argparse.Namespace) -> int:
    from metrics.kpis.marts import load_export, refresh_marts
    from metrics.views.history import after_load, history_unscanned

    mapping = parse_column_overrides(args.map)
    as_of = moment(args.as_of) if args.as_of is not None else None  # a bad one is said before the warehouse opens
    con = connect(args.db, on_wait=print_waiting)
    actor, exit_code, loaded = access.local_actor(), EXIT_OK, False
    try:  # the dashboard reads a copy while the load holds the warehouse, if it leaves the files' size free
        refuse_lake(con)  # before the copy: a lake's sidecar takes no load
        publish_snapshot(con, sum(Path(p).stat().st_size for p in args.paths if Path(p).is_file()), print_waiting)
        for path in args.paths:
            try:
                options = {"profile": args.profile, "mapping": mapping, "source_tz": args.tz, "refresh": False,
                           "sheet": args.sheet, "scale": args.scale, "as_of": as_of,
                           "save_profile": args.save_profile}  # fmt: skip
                result = access.perform(con, actor, "upload", load_export, path, args.kind, target=path, **options)
            except IngestError as exc:
                print(f"csat-radar: {exc}{_how_to_choose(exc)}", file=sys.stderr)
                exit_code = EXIT_UNREADABLE
                continue
            loaded = True
            if args.json:
                print(json.dumps(result.to_json(), ensure_ascii=False))
            else:
                print(
                    f"{result.file}: {result.rows_read} read as {result.kind} (profile {result.profile}, "
                    f"{result.encoding}) → {result.rows_loaded} loaded, {result.rows_updated} updated, "
                    f"{result.rows_duplicate} duplicate, {result.rows_rejected} rejected "
                    f"[batch {result.batch_id}]"
                )
                if args.save_profile:
                    print(f"    columns saved as profile {args.save_profile.strip()!r}: the next file with these "
                          "headers is read with it")  # fmt: skip
                if result.keys_derived:
                    key = TABLES[result.kind].key
                    print(f"    {result.keys_derived} rows had no {key}: each is keyed by its content (derived:…)")
                if result.merged_spellings:
                    print("    spellings merged (values differing only in case or spacing are one segment):")
                    for merged in result.merged_spellings:
                        print(f"      {merged.column}: {merged}")
                for reason, count in sorted(result.rejections.items(), key=lambda kv: -kv[1]):
                    print(f"    {count:>7}  {reason}")
        if loaded:
            refresh_marts(con)  # once for all the files, not once per file
            # A first load of years of history (or a backfill) has its past crises in the log, scanned once.
            scans = []
            if history_unscanned(con):  # audited only when there is history to scan
                scans = access.perform(con, actor, "history_scan", after_load, target="crisis log")
            for scanned in scans:
                print(
                    f"history scanned for crises at {scanned.grain} grain, {scanned.first} → {scanned.last}: "
                    f"{scanned.found} found (csat-radar crises --since {scanned.first} lists them)",
                    file=sys.stderr if args.json else sys.stdout,
                )
    finally:
        close_after_writing(con)
    return exit_code


# A message says what the file needs chosen; how to choose it is each face's own (the page has boxes for it).
CHOICE_FLAGS = {
    "sheet": "; choose it with --sheet NAME",
    "scale": "; name it with --scale (1-5, 1-7, 0-10 or good-bad)",
}


def _how_to_choose(error: IngestError) -> str:
    """The command line's words for a choice a file needs, after its message; '' for any other refusal."""
    if isinstance(error, ColumnNotFound):
        return f"; name the column with --map {error.column}=COLUMN"
    return CHOICE_FLAGS.get(error.choice, "") if isinstance(error, ChoiceNeeded) else ""


def cmd_demo(args: argparse.Namespace) -> int:
    from cli.demo import build_demo

    db = resolve_db_path(args.db)
    if db.exists():  # demo data would replace a lake's sidecar, and the lake is no demo's to fill
        try:
            con = connect(db, read_only=True, wait=0.0)
        except IngestError:
            con = None  # no warehouse (or one in use, or its lake gone): --force decides, as it always did
        if con is not None:
            try:
                refuse_lake(con)
            finally:
                con.close()
    if db.exists() and not args.force:
        raise IngestError(str(db), "warehouse already exists; pass --force to replace it with demo data")
    summary = build_demo(db, seed=args.seed, truth_path=args.truth, inject_crises=not args.no_crises)
    print(
        f"demo warehouse {db}: {summary['tickets']} tickets, {summary['survey_responses']} survey answers, "
        f"{summary['complaints']} complaints, {summary['crises']} injected crises (seed {args.seed})"
    )
    if args.truth:
        print(f"crisis labels written to {args.truth}")
    return EXIT_OK


def cmd_undo(args: argparse.Namespace) -> int:
    from metrics.kpis.marts import undo_export

    con = connect(args.db, on_wait=print_waiting)
    try:
        refuse_lake(con)
        publish_snapshot(con, on_skip=print_waiting)
        outcome = access.perform(
            con, access.local_actor(), "undo", undo_export, args.batch_id, target=f"batch {args.batch_id}"
        )
    finally:
        close_after_writing(con)
    print(
        f"batch {args.batch_id} undone: removed {outcome['removed']} rows it added, "
        f"restored {outcome['restored']} rows it had replaced"
    )
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    con = connect(args.db, on_wait=print_waiting)
    try:
        counts, as_of = table_counts(con), warehouse_as_of(con)
    finally:
        con.close()
    if args.json:  # as_of beside the counts: the moment the data describes, ISO 8601 in UTC, or null
        print(json.dumps({**counts, "as_of": as_of.isoformat() if as_of else None}))
    else:
        print_as_of(as_of)
        for table, count in counts.items():
            print(f"{table:>18}: {count}")
    return EXIT_OK


def moment(text: str) -> datetime:
    """An --as-of: an ISO date (its end, UTC: the export covers that whole day) or moment (naive means UTC).

    A bad one is an ``IngestError``, so it is said in one line, not under argparse's usage text.
    """
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text) + timedelta(days=1), time(), tzinfo=UTC)
        given = datetime.fromisoformat(text)
    except ValueError as exc:
        raise IngestError(
            "--as-of", f"expected a date or moment like 2026-11-15 or 2026-11-15T18:00+01:00, got {text!r}"
        ) from exc
    return given if given.tzinfo else given.replace(tzinfo=UTC)


def add_ingest(sub: argparse._SubParsersAction) -> None:
    ingest = with_db(sub.add_parser("ingest", help="load ticket, survey or complaint exports"))
    ingest.add_argument("paths", nargs="+", metavar="PATH")
    ingest.add_argument("--kind", required=True, choices=KINDS)
    ingest.add_argument("--profile", help="built-in profile name or a profile .toml file (default: best match)")
    ingest.add_argument("--map", action="append", default=[], metavar="CANONICAL=SOURCE", help="map one column")
    ingest.add_argument("--tz", help="time zone of naive timestamps in the file (default: this machine's)")
    ingest.add_argument("--sheet", help="the sheet of an Excel workbook to load (needed when several hold tables)")
    ingest.add_argument(
        "--scale", choices=tuple(SCALES), help="scale of survey scores when the file names none (default: inferred)"
    )
    ingest.add_argument(
        "--as-of",
        metavar="MOMENT",
        help="the moment the export describes, e.g. 2026-11-15 or 2026-11-15T18:00+01:00 (default: its latest event)",
    )
    ingest.add_argument(
        "--save-profile",
        metavar="NAME",
        help="save the columns this load used as profile NAME (in the warehouse): the next file with the same "
        "headers is read with it",
    )
    ingest.add_argument("--json", action="store_true", help="one JSON object per file")
    ingest.set_defaults(handler=cmd_ingest)


def add_demo(sub: argparse._SubParsersAction) -> None:
    demo = with_db(sub.add_parser("demo", help="build a demo warehouse from the seeded generator"))
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--truth", help="write the injected crises (labels) to this JSON file")
    demo.add_argument("--force", action="store_true", help="replace an existing warehouse")
    demo.add_argument("--no-crises", action="store_true", help="generate a crisis-free history (for false alarms)")
    demo.set_defaults(handler=cmd_demo)


def add_undo(sub: argparse._SubParsersAction) -> None:
    undo = with_db(sub.add_parser("undo", help="undo a loaded batch (rows it added go, rows it replaced return)"))
    undo.add_argument("batch_id", type=int)
    undo.set_defaults(handler=cmd_undo)


def add_status(sub: argparse._SubParsersAction) -> None:
    status = with_db(sub.add_parser("status", help="row counts of the warehouse tables"))
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)
