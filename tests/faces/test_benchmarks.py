"""The benchmark's own parts: the seeded exports it times and the report it writes (no timing here)."""

from __future__ import annotations

import polars as pl

from benchmarks.exports import write_exports
from benchmarks.run import Measured, report, verdicts


def test_exports_have_the_asked_size_and_the_usual_shares(tmp_path):
    paths = write_exports(tmp_path, 20_000)
    tickets = pl.read_csv(paths["tickets"])
    surveys = pl.read_csv(paths["surveys"])
    complaints = pl.read_csv(paths["complaints"])
    assert 17_000 <= tickets.height <= 23_000
    assert 0.25 <= surveys.height / tickets.height <= 0.35  # about 30% of tickets answered by a survey
    assert 0.03 <= complaints.height / tickets.height <= 0.05  # about 4% complaints
    assert tickets["ticket_id"].n_unique() == tickets.height
    before = paths["tickets"].stat().st_mtime_ns
    assert write_exports(tmp_path, 20_000) == paths and paths["tickets"].stat().st_mtime_ns == before  # kept


def figures(scale: float) -> dict:
    return {
        "ingest": Measured(14.0 * scale, 1500.0),
        "floor": Measured(10.0 * scale, 900.0),
        "pandas": Measured(16.0 * scale, 3800.0),
        "parse": Measured(4.0 * scale, 800.0),
        "cube": Measured(3.0 * scale, 900.0),
        "kpis_warm": Measured(0.1 * scale, 0.0),
        "kpi_each": {"csat": Measured(0.01, 0.0), "backlog_age": Measured(0.2 * scale, 0.0)},
        "kpis_cold": Measured(2.0, 0.0),
        "scan": Measured(12.0 * scale, 0.0),
        "pages": {"overview": Measured(0.5 * scale, 0.0)},
        "counts": {"tickets": int(1_000_000 * scale)},
    }


def test_report_states_every_figure_ratio_and_goal():
    small, large = figures(0.1), figures(1.0)
    large["pages"]["overview"] = Measured(1.2, 0.0)
    text = report({1_000_000: small, 10_000_000: large})
    assert "| `csat-radar ingest` of the tickets CSV, new warehouse | 1.4 s | 14.0 s | 10.0x |" in text
    assert "| ingest / floor | 1.40x | 1.40x | 1.0x |" in text
    assert "| pandas / warm KPIs | 160.0x | 160.0x | 1.0x |" in text
    assert "| 10,000,000 | pages | each under 1 s | NOT MET |" in text
    assert "| 10,000,000 | ingest | within 1.5x the DuckDB floor | met |" in text
    assert "cores" in text and "1,000,000 tickets" in text
    assert "| one KPI question, warm: the slowest | 20 ms | 200 ms | 10.0x |" in text
    assert "Slowest single KPI questions at 10,000,000 tickets: `backlog_age` 200 ms, `csat` 10 ms." in text
    assert "| of the ingest: the KPI cube rebuilt alone | 300 ms | 3.0 s | 10.0x |" in text
    assert verdicts(large) == {
        "ingest": True, "ingest_rss": True, "kpi_each": False, "kpis_warm": True, "kpis_cold": True, "scan": True,
        "pages": False,
    }  # fmt: skip
    assert verdicts(small)["kpi_each"] is True
