"""The commands that answer questions of the warehouse: ``kpis``, ``crises``, ``backtest`` and ``report``.

The metrics layer is imported inside each command, so that ``csat-radar --help`` and the
warehouse commands start without loading it.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import duckdb

from cli.common import EXIT_FAILED, EXIT_OK, print_as_of, with_db
from metrics.crises.model import RECENT_DAYS, SEVERITIES
from pipelines.common import names
from pipelines.common.diskspace import write_whole
from pipelines.common.errors import IngestError
from pipelines.common.segments import Segments, as_segments
from pipelines.signin import access
from pipelines.warehouse.store import connect, data_span, print_waiting, resolve_db_path, warehouse_as_of


def _parse_date(text: str | None) -> date | None:
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


def targets_settings(path: str | None, con: duckdb.DuckDBPyConnection | None = None):
    """The targets and conventions of ``--targets`` (default targets.toml), as of the warehouse's data when
    ``con`` is given; a bad file is the user's error."""
    from metrics.kpis.settings import SettingsError, load_settings, settings_for

    try:
        return settings_for(con, path) if con is not None else load_settings(path)
    except SettingsError as exc:
        raise IngestError("targets", str(exc)) from exc


def print_marts_status(lake: str) -> None:
    """Say on stderr when the lake's marts do not answer (none built, or stale): the KPIs then read the raw files."""
    from pipelines.warehouse.lake import marts_status

    note = marts_status(lake)
    if note:
        print(note, file=sys.stderr)


def _kpi_source(args: argparse.Namespace) -> duckdb.DuckDBPyConnection:
    """The warehouse, or with ``--lake`` DuckDB over the lake's files and marts (the same KPIs, the same tables)."""
    if not args.lake:
        return connect(args.db, read_only=True, on_wait=print_waiting)
    if args.db:
        raise IngestError("--lake", "give --lake or --db, not both")
    from pipelines.warehouse.lake import open_lake

    con = open_lake(args.lake)
    print_marts_status(args.lake)
    return con


def state_source(args: argparse.Namespace, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """The warehouse, or with ``--lake`` the lake's sidecar (``--db`` names it): the lake's tables and marts
    as views, and its own tables for what the radar and the app write (crisis log, audit, users)."""
    if not args.lake:
        return connect(args.db, read_only=read_only, on_wait=print_waiting)
    from pipelines.warehouse.lake import open_sidecar

    con = open_sidecar(args.lake, args.db)
    print_marts_status(args.lake)
    return con


def _spark_engine(args: argparse.Namespace):
    """Spark over the lake, to compute the KPIs' aggregates on it (``kpis --engine spark``)."""
    from metrics.kpis.spark import SparkEngine, SparkUnavailable, spark_session

    try:
        engine = SparkEngine(spark_session(args.master, args.remote))
    except SparkUnavailable as exc:
        raise IngestError("--engine spark", str(exc)) from None
    engine.register_lake(args.lake)
    return engine


def cmd_kpis(args: argparse.Namespace) -> int:
    import polars as pl

    from metrics.kpis.compute import RESULT_SCHEMA, Query, all_metric_names, compute
    from metrics.kpis.dimensions import segments_that_exist
    from metrics.kpis.formats import format_moment

    targets_settings(args.targets)  # a bad targets file is said before the warehouse is opened
    query = Query(
        metrics=tuple(args.metric) or all_metric_names(),
        grain=args.grain,
        dimension=args.by,
        date_from=_parse_date(args.date_from),
        date_to=_parse_date(args.date_to),
        filters=_parse_filters(args.filter),
    )
    if args.engine == "spark" and not args.lake:
        raise IngestError("--engine spark", "Spark reads a lake: give --lake DIR (csat-radar lake export)")
    con = _kpi_source(args)
    engine = None
    try:
        settings = targets_settings(args.targets, con)
        engine = _spark_engine(args) if args.engine == "spark" else None
        computed = compute(con, query, settings, engine=engine)
        as_of = warehouse_as_of(con)
    except ValueError as exc:
        raise IngestError("kpis", str(exc)) from exc
    finally:
        con.close()
        if engine is not None:
            engine.close()
    print_as_of(as_of, machine=args.json or args.csv)
    if args.explain:
        print(f"targets and conventions from {settings.source}:", file=sys.stderr)
        print(f"  now: {format_moment(settings.as_of)}, the moment the loaded data describes", file=sys.stderr)
        for convention, meaning in settings.conventions.describe().items():
            print(f"  {convention}: {meaning}", file=sys.stderr)
    # A dimension no record has is no breakdown: not one row "(none)" repeating the whole organisation.
    result = segments_that_exist(computed, "n") if args.by else computed
    # Every record says whether its period is whole, so a partial week is not read as a drop.
    columns = [c for c in RESULT_SCHEMA if c not in ("period_end", "target_bound")]
    records = result.select(columns).with_columns(pl.col("period_start").cast(pl.String))
    if args.json:
        print(json.dumps(records.to_dicts(), ensure_ascii=False))
    elif args.csv:
        sys.stdout.write(records.write_csv())
    else:
        from metrics.kpis.catalog import metric
        from metrics.kpis.formats import format_value

        if records.is_empty():
            absent = f"no record has a {args.by}: nothing to break down by"
            print(absent if computed.height else "no data for this selection")
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
                + (f": {row['reason']}" if row["reason"] else "")
                + ("" if row["complete"] else " (incomplete)")
            )
    return EXIT_OK


def _crisis_record(row: dict) -> dict:
    """One logged crisis as ``crises`` prints it (and ``--json`` gives it)."""
    from metrics.reports.review import crisis_cause

    return {
        "id": row["crisis_id"],
        "type": row["type"],
        "metric": row["metric"],
        "dimension": row["dimension"],
        "segment": row["segment"],
        "start": row["start_period"].isoformat(),
        "end": row["end_period"].isoformat() if row["end_period"] else None,
        "last_flagged": row["last_flagged"].isoformat(),
        "severity": row["severity"],
        "status": row["status"],
        "evidence": json.loads(row["evidence"] or "{}"),
        "contributors": json.loads(row["contributors"] or "[]"),
        "reason": row["type_reason"],
        "cause": crisis_cause(row, "en"),
    }


def _until(record: dict) -> str:
    """How a listed crisis ends: its end, or that it is ongoing, or quiet since its last flag (recovered)."""
    if record["end"]:
        return record["end"]
    return f"last flagged {record['last_flagged']}" if record["status"] == "recovered" else "ongoing"


def cmd_crises(args: argparse.Namespace) -> int:
    import polars as pl

    from metrics.crises.log import list_crises
    from metrics.crises.log_rows import OPEN_STATUSES
    from metrics.kpis.formats import format_moment
    from metrics.views.dashboard import refresh_crisis_log

    targets_settings(args.targets)
    run = None
    if args.notify or args.notify_config:  # a bad notifications file is said before the warehouse is opened
        from cli.notify import notify_config
        from metrics.notify.outbox import NotifyRun

        run = NotifyRun(notify_config(args.notify_config, args.targets))
    con = state_source(args)
    try:
        # "Now" is the moment the data describes, so a history that ended weeks ago is scanned where
        # it ends, and by default over its own last 90 days (RECENT_DAYS).
        settings = targets_settings(args.targets, con)
        span, as_of = data_span(con), warehouse_as_of(con)
        since = _parse_date(args.since) or (settings.as_of - timedelta(days=RECENT_DAYS)).date()
        # Audited as the Crisis radar page's "Scan now" is: it writes to the crisis log.
        access.perform(
            con, access.local_actor(), "scan", refresh_crisis_log, settings, args.grain, since=since, notify=run
        )
        # Active in the window, as --since says: a crisis of a history scanned whole, flagged last long
        # before the window and never confirmed over, is still open in the log but not listed here.
        log = list_crises(con, since=since).filter(
            (pl.col("grain") == args.grain) & (pl.coalesce("end_period", "last_flagged") >= since)
        )
    finally:
        con.close()
    records = [_crisis_record(row) for row in log.iter_rows(named=True)]
    print_as_of(as_of, machine=args.json)
    if not records:
        covered = f"the data spans {span[0]:%Y-%m-%d} → {span[1]:%Y-%m-%d}" if span else "the warehouse holds no data"
        why = (
            f"no crisis at {args.grain} grain in the window scanned, {since} → {settings.as_of:%Y-%m-%d} "
            f"(as of the data's last moment, {format_moment(settings.as_of)}); {covered}"
            + ("" if args.since else f"; the window is the data's last {RECENT_DAYS} days, --since widens it")
        )
        print(why, file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(records, ensure_ascii=False, default=str))
    else:
        for r in records:
            where = "overall" if r["dimension"] == "overall" else f"{r['dimension']}={r['segment']}"
            print(  # segments and reasons quote the data: printable, as names are
                f"#{r['id']:<4} {r['severity']:<8} {r['type']:<22} {names.printable(where):<32} {r['start']} → "
                f"{_until(r)}  [{r['status']}]\n      {names.printable(r['reason'])}"
                f"\n      {names.printable(r['cause'])}"
            )
    if run is not None:
        from cli.notify import print_deliveries

        print_deliveries(run, machine=args.json)
    if args.fail_on:
        threshold = SEVERITIES.index(args.fail_on)
        # Open only: a crisis recovered (awaiting confirmation) no longer fails the scheduler's run.
        open_levels = [SEVERITIES.index(r["severity"]) for r in records if r["status"] in OPEN_STATUSES]
        if any(level >= threshold for level in open_levels):
            return EXIT_FAILED
    return EXIT_OK


def _seed_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from exc


def _generated_histories(seeds: list[int], calm_seeds: list[int]) -> list[tuple[str, dict]]:
    """Backtest freshly generated histories, each in its own throwaway warehouse."""
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


def _per_segment_quarter(result: dict) -> str:
    """The false alarms' rate per segment and quarter judged, when known."""
    judged = result.get("segment_quarters")
    return f"{result['false_alarms'] / judged:.3f} per segment and quarter, " if judged else ""


def _print_backtest(name: str, results: dict) -> None:
    print(name)
    for grain, r in results.items():
        delay = "–" if r["median_delay_days"] is None else f"{r['median_delay_days']:g} days"
        rate = "–" if r["detection_rate"] is None else f"{r['detection_rate']:.0%}"
        typed = "–" if r["type_accuracy"] is None else f"{r['type_accuracy']:.0%}"
        print(
            f"  {grain}: detected {r['detected']}/{r['injected']} ({rate}), median delay {delay}, "
            f"types right {typed}, false alarms {r['false_alarms']} "
            f"({_per_segment_quarter(r)}at most {r['max_false_alarms_per_segment_quarter']} in any segment and "
            "quarter; "
            f"{r.get('false_crises', 0)} of them crises, at most {r.get('max_false_crises_per_segment_quarter', 0)} "
            "in any segment and quarter, the rest early warnings)"
        )
        for kind, k in r.get("by_kind", {}).items():
            kind_delay = "–" if k["median_delay_days"] is None else f"{k['median_delay_days']:g} days"
            placed = "–" if k["placed_right"] is None else f"{k['placed_right']:.0%}"
            confirmed = k.get("median_confirmed_delay_days")
            as_crisis = "" if confirmed is None else f" (a crisis after {confirmed:g} days)"
            print(
                f"    {kind}: found {k['detected']}/{k['injected']} ({k['recall']:.0%}), median delay {kind_delay}"
                f"{as_crisis}, placed right {placed}"
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
    from metrics.reports.review import last_complete_quarter, quarterly_review, render_html, write_excel

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".xlsx"):
        raise IngestError(str(out), "unknown report format; name the file .html or .xlsx")
    settings = targets_settings(args.targets)
    con = state_source(args, read_only=True)
    try:
        quarter = args.quarter or last_complete_quarter(con)
        if quarter is None:
            empty = data_span(con) is None
            raise IngestError(
                str(args.lake or resolve_db_path(args.db)),
                "the warehouse is empty; there is no quarter to review"
                if empty
                else "the data covers no quarter whole yet; name one with --quarter (like 2026Q3)",
            )
        try:
            review = quarterly_review(con, quarter, settings)
        except ValueError as exc:
            raise IngestError("--quarter", str(exc)) from exc
        as_of = warehouse_as_of(con)
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
    print_as_of(as_of)
    print(f"{review.quarter} review written to {out}: {review.kpis.height} KPIs, {review.crises.height} crises")
    return EXIT_OK


def add_kpis(sub: argparse._SubParsersAction) -> None:
    kpis = with_db(sub.add_parser("kpis", help="KPI values with intervals, targets and status"))
    kpis.add_argument("--grain", default="week", choices=("day", "week", "month", "quarter"))
    kpis.add_argument("--by", metavar="DIMENSION", help="break down by channel, team, ... or attr:NAME")
    kpis.add_argument("--from", dest="date_from", metavar="DATE")
    kpis.add_argument("--to", dest="date_to", metavar="DATE")
    kpis.add_argument("--metric", action="append", default=[], metavar="NAME", help="repeatable; default: all")
    kpis.add_argument("--filter", action="append", default=[], metavar="DIMENSION=VALUE", help="repeatable")
    kpis.add_argument("--targets", metavar="PATH", help="targets and conventions TOML (default: targets.toml)")
    kpis.add_argument("--explain", action="store_true", help="also state the conventions behind the numbers")
    kpis.add_argument("--lake", metavar="DIR", help="compute over a lake (csat-radar lake export) instead of --db")
    kpis.add_argument(
        "--engine",
        default="duckdb",
        choices=("duckdb", "spark"),
        help="spark: the aggregates computed on Spark over --lake, to check a cluster's numbers",
    )
    kpis.add_argument("--master", metavar="URL", help="with --engine spark: Spark master (default: local)")
    kpis.add_argument("--remote", metavar="sc://HOST", help="with --engine spark: a Spark Connect server")
    output = kpis.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true")
    output.add_argument("--csv", action="store_true")
    kpis.set_defaults(handler=cmd_kpis)


def add_crises(sub: argparse._SubParsersAction) -> None:
    crises = with_db(sub.add_parser("crises", help="scan for satisfaction crises and list the crisis log"))
    crises.add_argument(
        "--since", metavar="DATE", help="crises active on or after this date (default: the data's last 90 days)"
    )
    crises.add_argument("--grain", default="week", choices=("day", "week"))
    crises.add_argument("--targets", metavar="PATH")
    crises.add_argument("--json", action="store_true")
    crises.add_argument("--fail-on", choices=SEVERITIES, help="exit 1 when an open crisis is at least this severe")
    crises.add_argument(
        "--notify", action="store_true", help="tell the destinations of notifications.toml about new crisis events"
    )
    crises.add_argument("--notify-config", metavar="PATH", help="notifications TOML (default: beside the targets)")
    crises.add_argument(
        "--lake",
        metavar="DIR",
        help="scan a lake and its marts (--db: its sidecar, default DIR.radar.duckdb)",
    )
    crises.set_defaults(handler=cmd_crises)


def add_backtest(sub: argparse._SubParsersAction) -> None:
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


def add_report(sub: argparse._SubParsersAction) -> None:
    report = with_db(sub.add_parser("report", help="the quarterly review as an HTML report or an Excel workbook"))
    report.add_argument("--quarter", help="like 2026Q3 (default: the last complete quarter of the data)")
    report.add_argument("--out", required=True, metavar="FILE.html|FILE.xlsx")
    report.add_argument("--targets", metavar="PATH")
    report.add_argument(
        "--lake",
        metavar="DIR",
        help="report on a lake and its marts (--db: its sidecar, default DIR.radar.duckdb)",
    )
    report.set_defaults(handler=cmd_report)
