"""Every KPI asked at once gives each metric's records exactly as asking for it alone does, from a real built cube."""

from __future__ import annotations

import shutil
from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics.crises.backtest import data_end
from metrics.kpis.compute import Query, all_metric_names, compute
from metrics.kpis.cube import build_cube, cube_state
from metrics.kpis.settings import load_settings
from pipelines.warehouse.store import connect


@pytest.fixture(scope="module", params=[True, False], ids=["with histograms", "without histograms"])
def built(demo, tmp_path_factory, request):
    copy = tmp_path_factory.mktemp("batched") / "cube.duckdb"
    shutil.copy(demo[0], copy)
    con = connect(copy)
    settings = load_settings(as_of=data_end(con))
    build_cube(con, settings, histograms=request.param)
    yield con, settings, request.param
    con.close()


@pytest.mark.parametrize(
    "grain,dimension,date_from,date_to",
    [("week", "channel", None, None), ("month", "region", date(2026, 2, 10), date(2026, 9, 20)),
     ("range", "team", date(2026, 1, 5), date(2026, 3, 31))],
)  # fmt: skip
def test_all_kpis_at_once_equal_each_kpi_asked_alone(built, grain, dimension, date_from, date_to):
    con, settings, histograms = built
    state = cube_state(con, settings)
    assert state is not None, "the cube is current: the batched answer reads it"
    assert ("first_response_median" in state.metrics) == histograms
    names = tuple(n for n in all_metric_names() if grain != "range" or n not in ("backlog", "backlog_age"))
    together = compute(con, Query(names, grain, dimension, date_from, date_to), settings)
    alone = pl.concat(
        [compute(con, Query((name,), grain, dimension, date_from, date_to), settings) for name in names]
    ).sort("metric", "segment", "period_start")
    assert len(set(together["metric"])) > len(names) // 2  # most metrics have records (the demo has no CES)
    assert_frame_equal(together, alone)


def test_the_batched_answer_from_the_cube_equals_the_raw_tables(built):
    con, settings, _ = built
    names = all_metric_names()
    query = Query(names, "week", "channel")
    cubed = compute(con, query, settings).drop("ci_low", "ci_high")
    raw = compute(con, query, settings, use_cube=False).drop("ci_low", "ci_high")
    # Quantiles from histograms are within 2% (tests/kpis/test_cube.py); every other number is the same.
    exact = ~pl.col("metric").is_in(["first_response_median", "first_response_p90", "resolution_median",
                                     "resolution_p90", "backlog_age"])  # fmt: skip
    assert_frame_equal(cubed.filter(exact), raw.filter(exact))
    assert cubed.select("metric", "segment", "period_start").equals(raw.select("metric", "segment", "period_start"))
