"""Spark in local mode against DuckDB on the benchmark's warehouse, for information (``make bench``).

One machine is not Spark's home: these figures say what the same SQL costs on the two engines
here, not what a cluster does. Exported to a lake first (``csat-radar lake export``), then:
- every KPI at week grain by channel, from the raw tables: DuckDB over the lake, and Spark;
- the marts (daily cube, duration histograms, backlog ages): built by DuckDB and by Spark.

Run alone: ``python -m benchmarks.spark_bench WAREHOUSE [WORK_DIR]``; the section between the
markers in BENCHMARKS.md is replaced, the rest of the file is left as the last full run wrote it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- spark:start -->", "<!-- spark:end -->"


def _timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def measure(warehouse: Path, work: Path) -> dict:
    """Seconds for each step on each engine, and the sizes they ran on."""
    from metrics.kpis.catalog import catalog
    from metrics.kpis.compute import compute
    from metrics.kpis.lake_marts import build_marts_duckdb
    from metrics.kpis.settings import load_settings, on_data_clock
    from metrics.kpis.spark import SparkEngine, spark_session
    from metrics.kpis.spark_marts import build_marts_spark
    from metrics.kpis.sql import Query
    from pipelines.warehouse.lake import export_lake, open_lake
    from pipelines.warehouse.store import connect

    lake = work / "lake"
    con = connect(warehouse, read_only=True)
    try:
        figures = {"export": _timed(lambda: export_lake(con, lake, replace=True))[0]}
        figures["tickets"] = con.sql("SELECT count(*) FROM tickets").fetchall()[0][0]
    finally:
        con.close()
    query = Query(tuple(catalog()), "week", "channel")
    con = open_lake(lake)
    settings = on_data_clock(con, load_settings())
    figures["kpis_duckdb"] = _timed(lambda: compute(con, query, settings, use_cube=False))[0]
    engine = SparkEngine(spark_session())
    try:
        engine.register_lake(lake)
        figures["kpis_spark"] = _timed(lambda: compute(con, query, settings, engine=engine))[0]
    finally:
        engine.close()
        con.close()
    figures["marts_duckdb"] = _timed(lambda: build_marts_duckdb(lake, load_settings()))[0]
    # Its own session, started and stopped inside: the start is part of what a scheduled build costs.
    figures["marts_spark"] = _timed(lambda: build_marts_spark(lake, load_settings()))[0]
    return figures


def section(figures: dict) -> str:
    rows = [
        ("Every KPI, week by channel, from the raw tables", figures["kpis_duckdb"], figures["kpis_spark"]),
        ("The marts (daily cube, histograms, backlog ages)", figures["marts_duckdb"], figures["marts_spark"]),
    ]
    lines = [
        START,
        f"## Spark in local mode against DuckDB ({figures['tickets']:,} tickets, for information)",
        "",
        "The same catalog SQL on both engines, over the warehouse exported to a lake "
        f"({figures['export']:.1f} s). One machine of 2 cores is not Spark's home: this is the cost of",
        "the same work here, not a cluster's speed. The Spark build includes starting its session.",
        "",
        "| step | DuckDB | Spark local | Spark / DuckDB |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {duck:.1f} s | {spark:.1f} s | {spark / duck:.1f}x |" for name, duck, spark in rows),
        END,
    ]
    return "\n".join(lines)


def write_section(text: str, path: Path = ROOT / "BENCHMARKS.md") -> None:
    """Put the section in BENCHMARKS.md, replacing the one there (or appending it)."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in current and END in current:
        before, rest = current.split(START, 1)
        after = rest.split(END, 1)[1]
        current = before + text + after
    else:
        current = current.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(current, encoding="utf-8")


def main(argv: list[str]) -> int:
    warehouse = Path(argv[0])
    work = Path(argv[1]) if len(argv) > 1 else warehouse.parent / "spark-bench"
    work.mkdir(parents=True, exist_ok=True)
    figures = measure(warehouse, work)
    print(json.dumps(figures))
    write_section(section(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
