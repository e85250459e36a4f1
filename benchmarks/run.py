"""`make bench`: ingest, KPI, crisis-scan and page timings at 1M and 10M tickets, written to BENCHMARKS.md.

Each figure is the median of RUNS runs after one warm-up; wall time and peak memory (RSS) are
taken per child process with ``os.wait4``. Sizes and runs can be set with BENCH_SIZES
(comma-separated ticket counts) and BENCH_RUNS; exports are kept in BENCH_DIR between runs.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1000000,10000000").split(",")]
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
# Managers opening the dashboard at the same moment, on the largest warehouse.
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "20"))
SPARK_SIZE = int(os.environ.get("BENCH_SPARK_SIZE", "1000000"))
FOLDER = Path(os.environ.get("BENCH_DIR", Path(tempfile.gettempdir()) / "csat-radar-bench"))
FLOOR_SCRIPT = "import duckdb, sys; con = duckdb.connect(sys.argv[2]); " + (
    'con.execute("CREATE TABLE tickets AS SELECT * FROM read_csv(\'" + sys.argv[1] + "\')"); con.close()'
)
# Where an ingest's time goes: the same file only parsed by Polars as the ingest reads it, and the
# KPI cube rebuilt alone on the warehouse it made.
PARSE_SCRIPT = (
    "import sys, polars as pl; "
    "[None for _ in pl.scan_csv(sys.argv[1], infer_schema=False).collect_batches(chunk_size=500_000)]"
)
CUBE_SCRIPT = (
    "import sys; from pipelines.warehouse.store import connect; from metrics.kpis.cube import build_cube; "
    "con = connect(sys.argv[1]); build_cube(con); con.close()"
)


@dataclass
class Measured:
    seconds: float
    peak_mb: float


def run_once(command: list[str]) -> Measured:
    """Wall time and peak RSS of one child process; a failing command stops the benchmark."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed: {errors.read().decode()[-2000:]}")
    return Measured(seconds, usage.ru_maxrss / 1024)


# A first run shorter than this only warms the caches and is not counted; a longer one is a run
# like the others (its minute of reading swamps any warm-up, and the 10M ingests take minutes each).
WARM_UP_UNDER_SECONDS = 20.0


def median_run(make_command, runs: int = RUNS) -> Measured:
    """Median of ``runs`` runs, after a warm-up when the first is short; ``make_command(i)`` gives run i's command."""
    first = run_once(make_command(-1))
    counted = [] if first.seconds < WARM_UP_UNDER_SECONDS else [first]
    results = counted + [run_once(make_command(i)) for i in range(runs - len(counted))]
    return Measured(statistics.median(r.seconds for r in results), statistics.median(r.peak_mb for r in results))


def json_run(command: list[str]) -> tuple[Measured, dict]:
    """One child's wall time and peak memory, and the JSON object it printed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed: {errors.read().decode()[-2000:]}")
        out.seek(0)
        return Measured(seconds, usage.ru_maxrss / 1024), json.loads(out.read().decode())


def daily_upload(warehouse: Path, tickets_csv: Path, work: Path) -> dict:
    """The daily upload (benchmarks/daily_upload.py) into a fresh copy of ``warehouse``, median of RUNS runs."""
    from benchmarks.daily_upload import daily_export

    upload = daily_export(tickets_csv, work / "daily.csv")
    runs = []
    for _ in range(RUNS):
        copy = fresh(work / "daily.duckdb")
        shutil.copy(warehouse, copy)  # the warehouse is closed: no process holds its lock
        runs.append(json_run([PYTHON, "-m", "benchmarks.daily_upload", str(copy), str(upload)]))
    middle = sorted(runs, key=lambda r: r[0].seconds)[len(runs) // 2]
    return {"run": middle[0], "steps": middle[1]}


def fresh(path: Path) -> Path:
    for stale in (path, Path(f"{path}.wal")):
        stale.unlink(missing_ok=True)
    return path


def cli(*args: str) -> list[str]:
    return [PYTHON, "-m", "cli.main", *args]


def measure_size(tickets: int) -> dict:
    """Every figure at one size."""
    folder = FOLDER / str(tickets)
    print(f"[bench] {tickets:,} tickets: writing exports to {folder}", flush=True)
    # In a child: a forked child's peak RSS starts from its parent's, so the runner must stay small.
    script = "import sys; from pathlib import Path; from benchmarks.exports import write_exports; "
    script += "write_exports(Path(sys.argv[1]), int(sys.argv[2]))"
    run_once([PYTHON, "-c", script, str(folder), str(tickets)])
    paths = {kind: folder / f"{kind}.csv" for kind in ("tickets", "surveys", "complaints")}
    work = folder / "work"
    work.mkdir(exist_ok=True)

    def ingest(i: int) -> list[str]:
        db = fresh(work / f"ingest{i}.duckdb")
        return cli("ingest", str(paths["tickets"]), "--kind", "tickets", "--db", str(db), "--tz", "UTC")

    def floor(i: int) -> list[str]:
        return [PYTHON, "-c", FLOOR_SCRIPT, str(paths["tickets"]), str(fresh(work / f"floor{i}.duckdb"))]

    pandas_command = [
        PYTHON,
        "-m",
        "benchmarks.pandas_kpis",
        *(str(paths[k]) for k in ("tickets", "surveys", "complaints")),
    ]
    figures: dict = {}
    print("[bench]   ingest", flush=True)
    figures["ingest"] = median_run(ingest)
    print("[bench]   parse only, cube rebuild only", flush=True)
    figures["parse"] = median_run(lambda i: [PYTHON, "-c", PARSE_SCRIPT, str(paths["tickets"])])
    figures["cube"] = median_run(lambda i: [PYTHON, "-c", CUBE_SCRIPT, str(work / "ingest0.duckdb")])
    print("[bench]   ingest of the wide free-text export", flush=True)
    script = "import sys; from pathlib import Path; from benchmarks.exports import write_wide_export; "
    script += "write_wide_export(Path(sys.argv[1]), int(sys.argv[2]))"
    run_once([PYTHON, "-c", script, str(folder / "wide"), str(tickets)])
    wide = folder / "wide" / "wide_tickets.csv"

    def wide_ingest(i: int) -> list[str]:
        return cli(
            "ingest", str(wide), "--kind", "tickets", "--db", str(fresh(work / f"wide{i}.duckdb")), "--tz", "UTC"
        )

    figures["wide"] = median_run(wide_ingest)
    print("[bench]   DuckDB floor", flush=True)
    figures["floor"] = median_run(floor)
    print("[bench]   pandas", flush=True)
    figures["pandas"] = median_run(lambda i: pandas_command)

    warehouse = fresh(work / "warehouse.duckdb")
    for kind in ("tickets", "surveys", "complaints"):
        run_once(cli("ingest", str(paths[kind]), "--kind", kind, "--db", str(warehouse), "--tz", "UTC"))
    counts = json.loads(subprocess.run(cli("status", "--db", str(warehouse), "--json"), cwd=ROOT,
                                       capture_output=True, text=True, check=True).stdout)  # fmt: skip
    print("[bench]   first KPI in a new process", flush=True)
    kpi_command = cli(
        "kpis", "--db", str(warehouse), "--grain", "week", "--by", "channel", "--metric", "csat", "--json"
    )
    figures["kpis_cold"] = median_run(lambda i: kpi_command)
    print("[bench]   KPIs warm, crisis scan, pages", flush=True)
    probe = subprocess.run(
        [PYTHON, "-m", "benchmarks.probe", str(warehouse), str(RUNS)], cwd=ROOT, capture_output=True, text=True
    )
    if probe.returncode != 0:
        raise RuntimeError(f"probe failed: {probe.stderr[-2000:]}")
    inside = json.loads(probe.stdout)
    figures["kpis_warm"] = Measured(inside["kpis_warm"], 0.0)
    figures["kpi_each"] = {name: Measured(seconds, 0.0) for name, seconds in inside["kpi_each"].items()}
    figures["scan"] = Measured(inside["scan"], 0.0)
    figures["pages"] = {name: Measured(seconds, 0.0) for name, seconds in inside["pages"].items()}
    figures["counts"] = counts
    figures["scan_day"] = Measured(inside.get("scan_day", float("nan")), 0.0)
    print("[bench]   the daily upload", flush=True)
    figures["daily"] = daily_upload(warehouse, paths["tickets"], work)
    if tickets == max(SIZES):
        print(f"[bench]   {SESSIONS} dashboard sessions at once", flush=True)
        command = [PYTHON, "-m", "benchmarks.concurrency", str(warehouse), "--sessions", str(SESSIONS), "--waves", "2"]
        figures["concurrency"] = json_run(command)[1]
    return figures


def main() -> int:
    from benchmarks.report import write_report

    results = {size: measure_size(size) for size in SIZES}
    text = write_report(results, ROOT / "BENCHMARKS.md", RUNS)
    print(text)
    # Spark local against DuckDB, for information: its own section of BENCHMARKS.md (benchmarks/spark_bench.py).
    size = SPARK_SIZE if SPARK_SIZE in results else min(results)
    print(f"[bench] Spark local against DuckDB at {size:,} tickets", flush=True)
    warehouse = FOLDER / str(size) / "work" / "warehouse.duckdb"
    spark = subprocess.run([PYTHON, "-m", "benchmarks.spark_bench", str(warehouse)], cwd=ROOT)
    if spark.returncode != 0:
        print("[bench] the Spark comparison did not run (pyspark and Java 17 are needed)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
