"""A median of raw rows cannot spill to disk: out of DuckDB's memory limit, each dimension is asked alone.

At ten million tickets the daily medians of every dimension in one pass exceed the 1 GiB DuckDB
is given (`pipelines/warehouse/machine.py`) and the daily crisis scan failed. The demo shows the
same at a limit small enough for its 100,000-odd tickets.
"""

from __future__ import annotations

import duckdb
import pytest

from metrics.crises.backtest import data_end
from metrics.kpis.catalog import metric
from metrics.kpis.compute import compute_dimensions
from metrics.kpis.settings import load_settings
from metrics.kpis.sql import Compiler, Query, declare_macros

DIMENSIONS = ("overall", "channel", "team", "category", "product", "region", "customer_tier", "agent")
KEYS = ["dimension", "segment", "period_start"]
SMALL = "24MB"  # one pass over the demo's daily medians needs more; a dimension at a time less


@pytest.fixture
def demo_con(demo):
    con = duckdb.connect(str(demo[0]), read_only=True)
    con.execute("SET threads = 1")  # a limit's meaning depends on the threads sharing it
    yield con, load_settings(as_of=data_end(con))
    con.close()


def test_daily_medians_of_every_dimension_under_a_small_memory_limit_are_the_same_numbers(demo_con):
    con, settings = demo_con
    m = metric("resolution_median")
    roomy = compute_dimensions(con, m.name, "day", settings, DIMENSIONS).sort(KEYS)
    con.execute(f"SET memory_limit = '{SMALL}'")
    declare_macros(con, settings.conventions)
    with pytest.raises(duckdb.OutOfMemoryException):  # the one pass does not fit: the fallback is what is tested
        con.sql(Compiler(Query((m.name,), "day"), settings).sql(m, cube=True)).pl()
    tight = compute_dimensions(con, m.name, "day", settings, DIMENSIONS).sort(KEYS)
    assert tight.height == roomy.height > 0
    assert set(tight["dimension"]) == set(DIMENSIONS)
    assert tight.equals(roomy)
