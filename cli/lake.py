"""``csat-radar lake export`` and ``marts build``: the warehouse's tables as a lake of Parquet files, and its marts.

A cluster (Spark) or DuckDB builds the marts (KPI cube, duration histograms, backlog ages) into
the lake; ``kpis``, ``crises``, ``report`` and ``serve`` take ``--lake DIR`` and read the lake and
its marts through DuckDB (cli/answers.py, cli/serve.py).
"""

from __future__ import annotations

import argparse
import time

from cli.common import EXIT_OK, with_db
from pipelines.common.errors import IngestError
from pipelines.warehouse.lake import export_lake, open_lake
from pipelines.warehouse.store import connect, print_waiting, resolve_db_path


def cmd_lake_export(args: argparse.Namespace) -> int:
    db = resolve_db_path(args.db)
    if not db.is_file():  # opening would create an empty warehouse, and export nothing
        raise IngestError(str(db), "no warehouse here to export (load data first, or name one with --db)")
    con = connect(db, read_only=True, on_wait=print_waiting)  # read only: the warehouse file is left as it is
    try:
        manifest = export_lake(con, args.to, replace=args.replace)
    finally:
        con.close()
    tables = manifest["tables"]
    rows = sum(t["rows"] for t in tables.values())
    each = ", ".join(f"{name} {t['rows']:,}" for name, t in tables.items())
    print(f"lake written to {args.to}: {len(tables)} tables, {rows:,} rows ({each})")
    return EXIT_OK


def add_lake(sub: argparse._SubParsersAction) -> None:
    lake = sub.add_parser("lake", help="the warehouse's tables as Parquet files partitioned by month")
    actions = lake.add_subparsers(dest="lake_command", required=True)
    export = with_db(actions.add_parser("export", help="write the tables the KPIs read, with a manifest, to DIR"))
    export.add_argument("--to", required=True, metavar="DIR", help="a new or empty directory, or a previous lake")
    export.add_argument("--replace", action="store_true", help="write over the lake already in DIR")
    export.set_defaults(handler=cmd_lake_export)


def _build_spark(args: argparse.Namespace, settings) -> dict:
    """The marts built on Spark (local, ``--master`` or Spark Connect ``--remote``)."""
    from metrics.kpis.spark import SparkUnavailable
    from metrics.kpis.spark_marts import build_marts_spark

    try:
        return build_marts_spark(args.lake, settings, master=args.master, remote=args.remote)
    except SparkUnavailable as exc:
        raise IngestError("--engine spark", str(exc).strip().splitlines()[0]) from None


def cmd_marts_build(args: argparse.Namespace) -> int:
    from cli.answers import targets_settings

    started = time.monotonic()
    targets_settings(args.targets)  # a bad targets file is said before the lake is read
    if args.engine == "duckdb" and (args.master or args.remote):
        raise IngestError("--master/--remote", "name a Spark cluster; give them with --engine spark")
    con = open_lake(args.lake, marts=False)
    try:  # the conventions of --targets, as of the lake's own data
        settings = targets_settings(args.targets, con)
    finally:
        con.close()
    if args.engine == "duckdb":
        from metrics.kpis.lake_marts import build_marts_duckdb

        manifest = build_marts_duckdb(args.lake, settings)
    else:
        manifest = _build_spark(args, settings)
    each = ", ".join(f"{name} {t['rows']:,}" for name, t in manifest["tables"].items())
    print(f"marts of {args.lake} built by {manifest['engine']} in {time.monotonic() - started:.1f} s: {each} rows")
    return EXIT_OK


def add_marts(sub: argparse._SubParsersAction) -> None:
    marts = sub.add_parser("marts", help="the KPI cube, histograms and backlog ages of a lake, built into it")
    actions = marts.add_subparsers(dest="marts_command", required=True)
    build = actions.add_parser("build", help="build the marts of a lake (Spark, or DuckDB on one machine)")
    build.add_argument("--lake", required=True, metavar="DIR", help="a lake (csat-radar lake export)")
    build.add_argument("--engine", default="spark", choices=("spark", "duckdb"), help="default: spark")
    build.add_argument("--master", metavar="URL", help="Spark master (default: local, every core)")
    build.add_argument("--remote", metavar="sc://HOST", help="a Spark Connect server instead of a local Spark")
    build.add_argument("--targets", metavar="PATH", help="targets and conventions TOML (default: targets.toml)")
    build.set_defaults(handler=cmd_marts_build)
