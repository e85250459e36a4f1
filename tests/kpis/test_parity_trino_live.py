"""Against a live Trino, when there is one: TRINO_URL=trino://USER@HOST:PORT/CATALOG/SCHEMA, whose schema
holds the tables of the lake at TRINO_LAKE (``csat-radar lake export``, registered with Trino's Hive
connector). Every metric at week grain by channel must equal DuckDB's numbers over the same lake.

Skipped without TRINO_URL (and the ``trino`` client); the Trino SQL of every metric is re-parsed as
Trino on every run by tests/kpis/test_parity_spark.py.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import polars as pl
import pytest

from metrics.kpis.catalog import catalog
from metrics.kpis.dialect import render
from metrics.kpis.settings import load_settings, on_data_clock
from metrics.kpis.sql import Compiler, Query
from tests.kpis.spark_parity import differences

URL = os.environ.get("TRINO_URL")
pytestmark = pytest.mark.skipif(not URL, reason="no live Trino (set TRINO_URL and TRINO_LAKE)")


def test_every_metric_gives_duckdb_numbers_on_a_live_trino():
    trino = pytest.importorskip("trino")
    from pipelines.warehouse.lake import open_lake

    where = urlparse(URL)
    catalog_name, schema = where.path.strip("/").split("/", 1)
    connection = trino.dbapi.connect(
        host=where.hostname, port=where.port or 8080, user=where.username or "csat-radar",
        catalog=catalog_name, schema=schema,
    )  # fmt: skip
    con = open_lake(os.environ["TRINO_LAKE"])
    settings = on_data_clock(con, load_settings())
    found = []
    for m in catalog().values():
        query = Query((m.name,), "week", "channel")
        duck = con.sql(Compiler(query, settings).sql(m)).pl()
        cursor = connection.cursor()
        cursor.execute(render(Compiler(query, settings, engine="trino").sql(m), "trino"))
        rows = cursor.fetchall()
        on_trino = pl.DataFrame(rows, schema=duck.columns, orient="row", infer_schema_length=None)
        found += differences(duck, on_trino, m.name)
    assert not found, "\n".join(found)
