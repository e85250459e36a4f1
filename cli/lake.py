"""``csat-radar lake export``: the warehouse's tables as a lake of Parquet files a cluster (or DuckDB) reads.

``csat-radar kpis --lake DIR`` (cli/answers.py) computes the KPIs over such a lake.
"""

from __future__ import annotations

import argparse

from cli.common import EXIT_OK, with_db
from pipelines.common.errors import IngestError
from pipelines.warehouse.lake import export_lake
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
