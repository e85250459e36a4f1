"""The ``csat-radar`` command line: demo, ingest, serve and status.

Every failure a user can cause ends in one line on stderr and a non-zero exit code, never
a traceback (set CSAT_RADAR_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import sys
from pathlib import Path

from pipelines.common import names
from pipelines.common.diskspace import is_disk_full, write_whole
from pipelines.common.errors import IngestError
from pipelines.common.segments import Segments, as_segments
from pipelines.signin import access
from pipelines.stage.overrides import parse_column_overrides
from pipelines.stage.scales import SCALES
from pipelines.warehouse.schema import KINDS
from pipelines.warehouse.store import (
    close_after_writing,
    connect,
    print_waiting,
    publish_snapshot,
    resolve_db_path,
    table_counts,
)

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2
APP = Path(__file__).resolve().parent.parent / "app.py"


def cmd_ingest(args: argparse.Namespace) -> int:
    from metrics.kpis.marts import load_export, refresh_marts

    mapping = parse_column_overrides(args.map)
    con = connect(args.db, on_wait=print_waiting)
    actor, exit_code, loaded = access.local_actor(), EXIT_OK, False
    try:  # the dashboard reads a copy while the load holds the warehouse, if it leaves the files' size free
        publish_snapshot(con, sum(Path(p).stat().st_size for p in args.paths if Path(p).is_file()), print_waiting)
        for path in args.paths:
            try:
                options = {"profile": args.profile, "mapping": mapping, "source_tz": args.tz, "refresh": False,
                           "sheet": args.sheet, "scale": args.scale}  # fmt: skip
                result = access.perform(con, actor, "upload", load_export, path, args.kind, target=path, **options)
            except IngestError as exc:
                print(f"csat-radar: {exc}", file=sys.stderr)
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
                for reason, count in sorted(result.rejections.items(), key=lambda kv: -kv[1]):
                    print(f"    {count:>7}  {reason}")
        if loaded:
            refresh_marts(con)  # once for all the files, not once per file
    finally:
        close_after_writing(con)
    return exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    from cli.demo import build_demo

    db = resolve_db_path(args.db)
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
        counts = table_counts(con)
    finally:
        con.close()
    if args.json:
        print(json.dumps(counts))
    else:
        for table, count in counts.items():
            print(f"{table:>18}: {count}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    db = resolve_db_path(args.db).resolve()
    connect(db, on_wait=print_waiting).close()  # create and migrate before the app opens it
    env = {**os.environ, "CSAT_RADAR_DB": str(db)}
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(args.port),
        "--server.address", args.address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    print(f"CSAT Radar on http://{args.address}:{args.port} (warehouse {db})", flush=True)
    # Streamlit replaces this process (same pid): a supervisor's SIGTERM or Ctrl-C reaches the
    # server itself, where a child would outlive us holding the port and the warehouse.
    os.chdir(APP.parent)
    os.execve(sys.executable, command, env)


def _parse_date(text: str | None):
    from datetime import date

    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise IngestError("--from/--to", f"expected a date like 2026-07-01, got {text!r}") from exc


def _parse_filters(pairs: list[str]) -> Segments:
    grouped: dict[str, list[str]] = {}
    for pair in pairs:
        dimension, sep, value = pair.partition("=")
        if not sep or not dimension or not value:
            raise IngestError("--filter", f"expected DIMENSION=VALUE, got {pair!r}")
        grouped.setdefault(dimension.strip(), []).append(value.strip())
    return as_segments(grouped)


def cmd_kpis(args: argparse.Namespace) -> int:
    import polars as pl

    from metrics.kpis.compute import RESULT_SCHEMA, Query, all_metric_names, compute
    from metrics.kpis.settings import SettingsError, load_settings

    try:
        settings = load_settings(args.targets)
    except SettingsError as exc:
        raise IngestError("targets", str(exc)) from exc
    query = Query(
        metrics=tuple(args.metric) or all_metric_names(),
        grain=args.grain,
        dimension=args.by,
        date_from=_parse_date(args.date_from),
        date_to=_parse_date(args.date_to),
        filters=_parse_filters(args.filter),
    )
    con = connect(args.db, read_only=True, on_wait=print_waiting)
    try:
        result = compute(con, query, settings)
    except ValueError as exc:
        raise IngestError("kpis", str(exc)) from exc
    finally:
        con.close()
    if args.explain:
        print(f"targets and conventions from {settings.source}:", file=sys.stderr)
        for convention, meaning in settings.conventions.describe().items():
            print(f"  {convention}: {meaning}", file=sys.stderr)
    columns = [c for c in RESULT_SCHEMA if c not in ("period_end", "target_bound", "complete")]
    records = result.select(columns).with_columns(pl.col("period_start").cast(pl.String))
    if args.json:
        print(json.dumps(records.to_dicts(), ensure_ascii=False))
    elif args.csv:
        sys.stdout.write(records.write_csv())
    else:
        from metrics.kpis.catalog import format_value, metric

        if records.is_empty():
            print("no data for this selection")
        for row in records.iter_rows(named=True):
            fmt = metric(row["metric"]).format
            interval = (
                f" [{format_value(row['ci_low'], fmt)}, {format_value(row['ci_high'], fmt)}]"
                if row["ci_low"] is not None
                else ""
            )
            target = f" target {format_value(row['target'], fmt)}" if row["target"] is not None else ""
            print(  # a segment is the data's own text: printable, so no escape sequence reaches the terminal
                f"{row['period_start']} {names.printable(str(row['segment'])):<14} {row['metric']:<26} "
                f"{format_value(row['value'], fmt):>10}{interval} n={row['n']}{target} {row['status']}"
            )
    return EXIT_OK


SEVERITY_ORDER = ("observe", "minor", "major", "critical")


def cmd_crises(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from metrics.crises.log import list_crises
    from metrics.kpis.settings import SettingsError, load_settings
    from metrics.views.dashboard import refresh_crisis_log

    try:
        settings = load_settings(args.targets)
    except SettingsError as exc:
        raise IngestError("targets", str(exc)) from exc
    since = _parse_date(args.since) or (datetime.now(UTC) - timedelta(days=90)).date()
    con = connect(args.db, on_wait=print_waiting)
    try:
        # Audited as the Crisis radar page's "Scan now" is: it writes to the crisis log.
        access.perform(con, access.local_actor(), "scan", refresh_crisis_log, settings, args.grain, since=since)
        log = list_crises(con, since=since).filter(pl_col_grain(args.grain))
    finally:
        con.close()
    records = [
        {
            "id": row["crisis_id"],
            "type": row["type"],
            "metric": row["metric"],
            "dimension": row["dimension"],
            "segment": row["segment"],
            "start": row["start_period"].isoformat(),
            "end": row["end_period"].isoformat() if row["end_period"] else None,
            "severity": row["severity"],
            "status": row["status"],
            "evidence": json.loads(row["evidence"] or "{}"),
            "contributors": json.loads(row["contributors"] or "[]"),
            "reason": row["type_reason"],
        }
        for row in log.iter_rows(named=True)
    ]
    if args.json:
        print(json.dumps(records, ensure_ascii=False, default=str))
    elif not records:
        print(f"no crisis since {since} at {args.grain} grain")
    else:
        for r in records:
            where = "overall" if r["dimension"] == "overall" else f"{r['dimension']}={r['segment']}"
            print(  # segments and reasons quote the data: printable, as names are
                f"#{r['id']:<4} {r['severity']:<8} {r['type']:<22} {names.printable(where):<32} {r['start']} → "
                f"{r['end'] or 'ongoing'}  [{r['status']}]\n      {names.printable(r['reason'])}"
            )
    if args.fail_on:
        threshold = SEVERITY_ORDER.index(args.fail_on)
        open_levels = [
            SEVERITY_ORDER.index(r["severity"]) for r in records if r["status"] not in ("resolved", "reviewed")
        ]
        if any(level >= threshold for level in open_levels):
            return EXIT_FAILED
    return EXIT_OK


def pl_col_grain(grain: str):
    import polars as pl

    return pl.col("grain") == grain


def _seed_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from exc


def _generated_histories(seeds: list[int], calm_seeds: list[int]) -> list[tuple[str, dict]]:
    """Backtest freshly generated histories, each in its own throwaway warehouse."""
    import tempfile

    from cli.demo import build_demo
    from metrics.crises.backtest import backtest

    results = []
    with tempfile.TemporaryDirectory(prefix="csat-radar-backtest-") as folder:
        runs = [(seed, True) for seed in seeds] + [(seed, False) for seed in calm_seeds]
        for seed, with_crises in runs:
            stem = f"seed{seed}" + ("" if with_crises else "-calm")
            db, truth_path = Path(folder, f"{stem}.duckdb"), Path(folder, f"{stem}.json")
            build_demo(db, seed=seed, truth_path=truth_path, inject_crises=with_crises, log_crises=False)
            con = connect(db, read_only=True, on_wait=print_waiting)
            try:
                results.append(
                    (
                        f"seed {seed}" + ("" if with_crises else ", no crises"),
                        backtest(con, json.loads(truth_path.read_text())),
                    )
                )
            finally:
                con.close()
            db.unlink()
    return results


def _labelled_history(args: argparse.Namespace) -> tuple[str, dict]:
    from metrics.crises.backtest import backtest

    truth_path = Path(args.truth or "data/demo_truth.json")
    try:
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IngestError(
            str(truth_path), "labels file not found (make one with: csat-radar demo --truth PATH)"
        ) from exc
    except json.JSONDecodeError as exc:
        raise IngestError(str(truth_path), f"not valid JSON ({exc.msg})") from exc
    con = connect(args.db, read_only=True, on_wait=print_waiting)
    try:
        return str(truth_path), backtest(con, truth)
    finally:
        con.close()


def _print_backtest(name: str, results: dict) -> None:
    print(name)
    for grain, r in results.items():
        delay = "–" if r["median_delay_days"] is None else f"{r['median_delay_days']:g} days"
        rate = "–" if r["detection_rate"] is None else f"{r['detection_rate']:.0%}"
        typed = "–" if r["type_accuracy"] is None else f"{r['type_accuracy']:.0%}"
        print(
            f"  {grain}: detected {r['detected']}/{r['injected']} ({rate}), median delay {delay}, "
            f"types right {typed}, false alarms {r['false_alarms']} "
            f"(at most {r['max_false_alarms_per_segment_quarter']} per segment and quarter)"
        )
        missed = [g for g, ok in r["goals_met"].items() if not ok]
        print(f"      goals: {'all met' if not missed else 'not met: ' + ', '.join(missed)}")


def cmd_backtest(args: argparse.Namespace) -> int:
    from metrics.crises.backtest import pool

    if args.seeds or args.calm_seeds:
        histories = _generated_histories(args.seeds or [], args.calm_seeds or [])
    else:
        histories = [_labelled_history(args)]
    verdict = histories[0][1] if len(histories) == 1 else pool([r for _, r in histories])
    if args.json:
        report = {**verdict, "histories": dict(histories)} if len(histories) > 1 else verdict
        print(json.dumps(report, ensure_ascii=False, default=str))
    else:
        for name, results in histories:
            _print_backtest(name, results)
        if len(histories) > 1:
            _print_backtest(f"pooled over {len(histories)} histories", verdict)
    return EXIT_OK if all(all(r["goals_met"].values()) for r in verdict.values()) else EXIT_FAILED


def cmd_report(args: argparse.Namespace) -> int:
    from metrics.kpis.settings import SettingsError, load_settings
    from metrics.reports.review import last_complete_quarter, quarterly_review, render_html, write_excel

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".xlsx"):
        raise IngestError(str(out), "unknown report format; name the file .html or .xlsx")
    try:
        settings = load_settings(args.targets)
    except SettingsError as exc:
        raise IngestError("targets", str(exc)) from exc
    con = connect(args.db, read_only=True, on_wait=print_waiting)
    try:
        quarter = args.quarter or last_complete_quarter(con)
        if quarter is None:
            raise IngestError(str(resolve_db_path(args.db)), "the warehouse is empty; there is no quarter to review")
        try:
            review = quarterly_review(con, quarter, settings)
        except ValueError as exc:
            raise IngestError("--quarter", str(exc)) from exc
    finally:
        con.close()
    if review.kpis.is_empty():
        raise IngestError("--quarter", f"no data in {review.quarter}; nothing to report")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".html":
        data = render_html(review).encode("utf-8")
    else:
        buffer = io.BytesIO()
        write_excel(review, buffer)
        data = buffer.getvalue()
    write_whole(out, data)
    print(f"{review.quarter} review written to {out}: {review.kpis.height} KPIs, {review.crises.height} crises")
    return EXIT_OK


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
    from metrics.views.dashboard import FILTER_DIMENSIONS

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csat-radar", description="Customer-satisfaction analytics and crisis radar.")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--db", help="warehouse file (default: $CSAT_RADAR_DB or data/warehouse.duckdb)")
        return p

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
    ingest.add_argument("--json", action="store_true", help="one JSON object per file")
    ingest.set_defaults(handler=cmd_ingest)

    demo = with_db(sub.add_parser("demo", help="build a demo warehouse from the seeded generator"))
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--truth", help="write the injected crises (labels) to this JSON file")
    demo.add_argument("--force", action="store_true", help="replace an existing warehouse")
    demo.add_argument("--no-crises", action="store_true", help="generate a crisis-free history (for false alarms)")
    demo.set_defaults(handler=cmd_demo)

    serve = with_db(sub.add_parser("serve", help="serve the dashboard"))
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--address", default="localhost")
    serve.set_defaults(handler=cmd_serve)

    kpis = with_db(sub.add_parser("kpis", help="KPI values with intervals, targets and status"))
    kpis.add_argument("--grain", default="week", choices=("day", "week", "month", "quarter"))
    kpis.add_argument("--by", metavar="DIMENSION", help="break down by channel, team, ... or attr:NAME")
    kpis.add_argument("--from", dest="date_from", metavar="DATE")
    kpis.add_argument("--to", dest="date_to", metavar="DATE")
    kpis.add_argument("--metric", action="append", default=[], metavar="NAME", help="repeatable; default: all")
    kpis.add_argument("--filter", action="append", default=[], metavar="DIMENSION=VALUE", help="repeatable")
    kpis.add_argument("--targets", metavar="PATH", help="targets and conventions TOML (default: targets.toml)")
    kpis.add_argument("--explain", action="store_true", help="also state the conventions behind the numbers")
    output = kpis.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true")
    output.add_argument("--csv", action="store_true")
    kpis.set_defaults(handler=cmd_kpis)

    crises = with_db(sub.add_parser("crises", help="scan for satisfaction crises and list the crisis log"))
    crises.add_argument("--since", metavar="DATE", help="crises active on or after this date (default: 90 days ago)")
    crises.add_argument("--grain", default="week", choices=("day", "week"))
    crises.add_argument("--targets", metavar="PATH")
    crises.add_argument("--json", action="store_true")
    crises.add_argument("--fail-on", choices=SEVERITY_ORDER, help="exit 1 when an open crisis is at least this severe")
    crises.set_defaults(handler=cmd_crises)

    backtest = with_db(sub.add_parser("backtest", help="measure the radar against labelled, injected crises"))
    backtest.add_argument(
        "--truth", metavar="PATH", help="labels from csat-radar demo --truth (default data/demo_truth.json)"
    )
    backtest.add_argument(
        "--seeds", type=_seed_list, metavar="N,N,...", help="generate a labelled history per seed and pool the results"
    )
    backtest.add_argument(
        "--calm-seeds",
        type=_seed_list,
        metavar="N,N,...",
        help="also generate crisis-free histories (no alarm allowed)",
    )
    backtest.add_argument("--json", action="store_true")
    backtest.set_defaults(handler=cmd_backtest)

    report = with_db(sub.add_parser("report", help="the quarterly review as an HTML report or an Excel workbook"))
    report.add_argument("--quarter", help="like 2026Q3 (default: the last complete quarter of the data)")
    report.add_argument("--out", required=True, metavar="FILE.html|FILE.xlsx")
    report.add_argument("--targets", metavar="PATH")
    report.set_defaults(handler=cmd_report)

    undo = with_db(sub.add_parser("undo", help="undo a loaded batch (rows it added go, rows it replaced return)"))
    undo.add_argument("batch_id", type=int)
    undo.set_defaults(handler=cmd_undo)

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

    audit = with_db(sub.add_parser("audit", help="the audit log, newest first"))
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--csv", action="store_true")
    audit.set_defaults(handler=cmd_audit)

    status = with_db(sub.add_parser("status", help="row counts of the warehouse tables"))
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)
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
