"""What the Spark parity tests share: a Spark session or a skip, and frames compared the way the issue asks.

Keys and counts must be equal, values within 1e-9 (relative, or absolute near zero). Without
pyspark or Java the tests skip, unless CSAT_RADAR_REQUIRE_SPARK is set (CI sets it), where a
missing Spark fails instead of hiding the suite.
"""

from __future__ import annotations

import os
import shutil

import polars as pl
import pytest

from pipelines.warehouse.lake import LAKE_TABLES

TOLERANCE = 1e-9
KEYS = ("period_start", "dimension", "segment")
# Warehouse tables the KPI SQL reads: those a lake holds.
TABLES = tuple(LAKE_TABLES)


def require_spark() -> None:
    """Skip the test when pyspark or Java is missing; fail instead where Spark is required (CI)."""
    import importlib.util

    required = bool(os.environ.get("CSAT_RADAR_REQUIRE_SPARK"))
    missing = None
    if importlib.util.find_spec("pyspark") is None:
        missing = "no pyspark (pip install 'csat-radar[spark]')"
    elif shutil.which("java") is None:
        missing = "no Java runtime (apt-get install openjdk-17-jre-headless)"
    if missing and required:
        pytest.fail(missing)
    if missing:
        pytest.skip(missing)


def spark_or_skip():
    """A local Spark engine for the module, or a skip (a failure where Spark is required)."""
    require_spark()
    from metrics.kpis.spark import SparkEngine, SparkUnavailable, spark_session

    try:
        return SparkEngine(spark_session("local[2]"))
    except SparkUnavailable as exc:
        if os.environ.get("CSAT_RADAR_REQUIRE_SPARK"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def differences(duck: pl.DataFrame, spark: pl.DataFrame, label: str, keys: tuple[str, ...] = KEYS) -> list[str]:
    """What differs between two results of one statement: none when keys, counts and values agree."""
    keys = [k for k in keys if k in duck.columns]
    if duck.columns != spark.columns:
        return [f"{label}: columns {duck.columns} != {spark.columns}"]
    if duck.height != spark.height:
        return [f"{label}: {duck.height} rows on DuckDB, {spark.height} on Spark"]
    a = duck.with_columns(pl.col(keys).cast(pl.String)).sort(keys)
    b = spark.with_columns(pl.col(keys).cast(pl.String)).sort(keys)
    found = []
    for column in a.columns:
        x, y = a[column], b[column]
        if column in keys:
            if not x.equals(y):
                found.append(f"{label}: keys {column} differ")
            continue
        x, y = x.cast(pl.Float64), y.cast(pl.Float64)
        if not x.is_null().equals(y.is_null()):
            found.append(f"{label}: {column} null on one engine only")
            continue
        gap = ((x - y).abs() / x.abs().clip(lower_bound=1.0)).max()
        if gap is not None and gap > TOLERANCE:
            found.append(f"{label}: {column} differs by {gap:.3g}")
    return found
