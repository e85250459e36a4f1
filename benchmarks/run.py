"""`make bench`: ingest, KPI, crisis-scan and page timings at 1M and 10M tickets, written to BENCHMARKS.md.

Each figure is the median of RUNS runs after one warm-up; wall time and peak memory (RSS) are
taken per child process with ``os.wait4``. Sizes and runs can be set with BENCH_SIZES
(comma-separated ticket counts) and BENCH_RUNS; exports are kept in BENCH_DIR between runs.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1000000,10000000").split(",")]
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
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
# The goals: (label, how a figure is judged).
GOALS = {
    "ingest": "within 1.5x the DuckDB floor",
    "ingest_rss": "under 2 GB",
    "kpi_each": "each KPI question (one metric, weekly by channel) under 150 ms",
    "kpis_warm": "every KPI at once at least 20x faster than the pandas script",
    "kpis_cold": "under 3 s",
    "scan": "under 15 s",
    "pages": "each under 1 s",
}


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


def median_run(make_command, runs: int = RUNS) -> Measured:
    """Median of ``runs`` runs after a warm-up; ``make_command(i)`` gives the command of run i."""
    run_once(make_command(-1))
    results = [run_once(make_command(i)) for i in range(runs)]
    return Measured(statistics.median(r.seconds for r in results), statistics.median(r.peak_mb for r in results))


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
    return figures


def machine() -> str:
    memory = next(
        (int(line.split()[1]) / 1024 / 1024 for line in Path("/proc/meminfo").read_text().splitlines()
         if line.startswith("MemTotal")), 0.0,
    )  # fmt: skip
    system = f"{platform.system()} {platform.machine()}, Python {platform.python_version()}"
    return f"{os.cpu_count()} cores, {memory:.0f} GB memory, {system}"


def _s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def verdicts(f: dict) -> dict[str, bool]:
    """Whether one size's figures meet each goal of the performance issue."""
    return {
        "ingest": f["ingest"].seconds <= 1.5 * f["floor"].seconds,
        "ingest_rss": f["ingest"].peak_mb < 2048,
        "kpi_each": max(m.seconds for m in f["kpi_each"].values()) < 0.150,
        "kpis_warm": f["pandas"].seconds >= 20 * f["kpis_warm"].seconds,
        "kpis_cold": f["kpis_cold"].seconds < 3,
        "scan": f["scan"].seconds < 15,
        "pages": all(m.seconds < 1 for m in f["pages"].values()),
    }


def report(results: dict[int, dict]) -> str:
    """BENCHMARKS.md: every figure at every size, the 10M/1M ratios, and each goal met or not."""
    sizes = sorted(results)
    largest = sizes[-1]
    header = (
        "| figure | "
        + " | ".join(f"{s:,} tickets" for s in sizes)
        + (" | ratio largest/smallest |" if len(sizes) > 1 else " |")
    )
    rule = "| --- " * (len(sizes) + 1 + (len(sizes) > 1)) + "|"
    rows = []

    def row(label: str, pick, fmt=_s) -> None:
        values = [pick(results[s]) for s in sizes]
        cells = [fmt(v) for v in values]
        if len(sizes) > 1:
            cells.append(f"{values[-1] / values[0]:.1f}x" if values[0] else "–")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")

    row("`csat-radar ingest` of the tickets CSV, new warehouse", lambda f: f["ingest"].seconds)
    row("peak memory of that ingest", lambda f: f["ingest"].peak_mb, lambda v: f"{v:,.0f} MB")
    row("floor: DuckDB `read_csv` into a table", lambda f: f["floor"].seconds)
    row("peak memory of the floor", lambda f: f["floor"].peak_mb, lambda v: f"{v:,.0f} MB")
    row("ingest / floor", lambda f: f["ingest"].seconds / f["floor"].seconds, lambda v: f"{v:.2f}x")
    row("of the ingest: Polars parsing the CSV alone", lambda f: f["parse"].seconds)
    row("of the ingest: the KPI cube rebuilt alone", lambda f: f["cube"].seconds)
    row("pandas script: read the exports, weekly KPIs by channel", lambda f: f["pandas"].seconds)
    row("peak memory of the pandas script", lambda f: f["pandas"].peak_mb, lambda v: f"{v:,.0f} MB")
    row("every KPI, weekly by channel, warm", lambda f: f["kpis_warm"].seconds)
    row("pandas / warm KPIs", lambda f: f["pandas"].seconds / f["kpis_warm"].seconds, lambda v: f"{v:.1f}x")
    row("one KPI question, warm: median over the catalog", lambda f: statistics.median(
        m.seconds for m in f["kpi_each"].values()))  # fmt: skip
    row("one KPI question, warm: the slowest", lambda f: max(m.seconds for m in f["kpi_each"].values()))
    row("new process to its first KPI (`csat-radar kpis`)", lambda f: f["kpis_cold"].seconds)
    row("full crisis scan, weekly", lambda f: f["scan"].seconds)
    for page in results[largest]["pages"]:
        row(f"page `{page}`, warm", lambda f, p=page: f["pages"][p].seconds)

    goal_rows = []
    for size in sizes:
        met = verdicts(results[size])
        for name, ok in met.items():
            goal_rows.append(f"| {size:,} | {name} | {GOALS[name]} | {'met' if ok else 'NOT MET'} |")
    slowest = sorted(results[largest]["kpi_each"].items(), key=lambda item: -item[1].seconds)[:5]
    slowest_text = ", ".join(f"`{name}` {_s(m.seconds)}" for name, m in slowest)
    counts = results[largest]["counts"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}.",
        f"Each figure is the median of {RUNS} runs after a warm-up. The largest warehouse holds "
        + ", ".join(f"{v:,} {k}" for k, v in counts.items() if isinstance(v, int) and v)
        + ".",
        "",
        header,
        rule,
        *rows,
        "",
        f"Slowest single KPI questions at {largest:,} tickets: {slowest_text}.",
        "",
        "## Goals",
        "",
        "| tickets | goal | target | verdict |",
        "| --- | --- | --- | --- |",
        *goal_rows,
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    results = {size: measure_size(size) for size in SIZES}
    (ROOT / "BENCHMARKS.md").write_text(report(results), encoding="utf-8")
    print((ROOT / "BENCHMARKS.md").read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
