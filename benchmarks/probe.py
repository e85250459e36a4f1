"""In-process timings on a loaded warehouse: every KPI warm (together and one by one), the scans, each page.

Run as ``python -m benchmarks.probe DB RUNS``; prints one JSON object of medians in seconds.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable

import duckdb

from metrics.crises.backtest import data_end
from metrics.crises.radar import scan
from metrics.kpis.compute import Query, all_metric_names, compute
from metrics.kpis.settings import load_settings
from metrics.reports import review
from metrics.views import dashboard
from pipelines.warehouse.store import connect


def timed(action: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls after one warm-up call."""
    action()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def page_actions(con: duckdb.DuckDBPyConnection) -> dict[str, Callable[[], object]]:
    """Each page's questions as it opens with the default filters, as one call per page."""
    settings = load_settings(as_of=data_end(con))
    view = dashboard.View()

    def ask(question: Callable[..., object], args: tuple) -> object:
        return (
            question(con, *args) if question in dashboard.VIEWLESS_QUESTIONS else question(con, settings, view, *args)
        )

    def page(name: str) -> Callable[[], object]:
        def run() -> None:
            for question, args in dashboard.PAGE_QUESTIONS[name]:
                if question is review.quarterly_review:
                    quarter = review.last_complete_quarter(con)
                    review.quarterly_review(con, quarter, settings, view)
                else:
                    ask(question, args)

        return run

    return {name: page(name) for name in dashboard.PAGE_QUESTIONS}


def probe(db: str, runs: int) -> dict:
    # The warehouse as the product opens it (its memory limit and threads): a bare connection has
    # no limit, and measured a daily scan that fails for a user at ten million tickets.
    con = connect(db, read_only=True)
    settings = load_settings(as_of=data_end(con))
    every_kpi = Query(all_metric_names(), "week", "channel")
    result = {
        "kpis_warm": timed(lambda: compute(con, every_kpi, settings), runs),
        "kpi_each": {
            name: timed(lambda name=name: compute(con, Query((name,), "week", "channel"), settings), runs)
            for name in all_metric_names()
        },
        "scan": timed(lambda: scan(con, settings, "week"), runs),
        # The daily grain judges seven times the periods and reads daily medians raw (the histograms are weekly).
        "scan_day": timed(lambda: scan(con, settings, "day"), runs),
        "pages": {name: timed(action, runs) for name, action in page_actions(con).items()},
    }
    con.close()
    return result


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3)))
