"""Apache Spark as a KPI engine: one session over a lake's Parquet tables, answering the compiler's SQL.

The compiler writes each statement once (metrics/kpis/sql.py, with markers for what engines spell
differently); ``SparkEngine.frame`` renders it for Spark (metrics/kpis/dialect.py), runs it and
returns the rows as a Polars frame, the shape DuckDB's ``con.sql(q).pl()`` gives. pyspark is an
optional extra (``pip install 'csat-radar[spark]'``) and needs a Java 17 runtime.

The session's time zone is set to UTC, as DuckDB's is (pipelines/warehouse/store.py), though the
SQL does not depend on it: the parity suite runs it with the session in another zone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl

from metrics.kpis.dialect import render

INSTALL_HINT = "Spark is an optional extra: pip install 'csat-radar[spark]' (and a Java 17 runtime)"
# Spark's own defaults suit a cluster: 200 shuffle partitions cost seconds per small query locally.
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.memory": "2g",
    "spark.ui.showConsoleProgress": "false",
}


class SparkUnavailable(RuntimeError):
    """pyspark or Java is missing, or no session could be started; the message says which and what to do."""


def spark_session(master: str | None = None, remote: str | None = None) -> Any:
    """A Spark session: Spark Connect at ``remote``, else ``master`` (default: local, on every core)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable(INSTALL_HINT) from None
    builder = SparkSession.builder.appName("csat-radar")
    if remote:
        return builder.remote(remote).getOrCreate()
    builder = builder.master(master or os.environ.get("CSAT_RADAR_SPARK_MASTER", "local[*]"))
    for key, value in LOCAL_CONF.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # py4j's "Java gateway process exited" and the like
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SparkUnavailable(f"could not start Spark ({first}); {INSTALL_HINT}") from None
    # A failed statement reaches the caller as an exception; Spark's own log of it is pages of JSON.
    session.sparkContext.setLogLevel("FATAL")
    return session


class SparkEngine:
    """The compiler's SQL on Spark, over tables registered as temporary views."""

    engine = "spark"

    def __init__(self, session: Any):
        self.session = session

    def register(self, name: str, frame: Any) -> None:
        """Make a Spark DataFrame the table ``name`` the SQL reads."""
        frame.createOrReplaceTempView(name)

    def register_parquet(self, name: str, path: str | os.PathLike, drop: tuple[str, ...] = ()) -> None:
        """The table ``name`` from Parquet at ``path`` (a file, or a Hive-partitioned folder), less ``drop``."""
        frame = self.session.read.parquet(str(Path(path)))
        self.register(name, frame.drop(*[c for c in drop if c in frame.columns]))

    def register_lake(self, lake: str | os.PathLike) -> None:
        """Every table of a lake (``csat-radar lake export``), as the KPI SQL names them."""
        from pipelines.warehouse.lake import LAKE_TABLES, PARTITION

        for table, time_column in LAKE_TABLES.items():
            self.register_parquet(table, Path(lake) / table, drop=(PARTITION,) if time_column else ())

    def register_duckdb(self, con: Any, tables: tuple[str, ...]) -> None:
        """The tables of a DuckDB connection, copied into Spark through Arrow (JSON columns as text, as in Parquet)."""
        for table in tables:
            columns = con.sql(f"DESCRIBE {table}").fetchall()
            select = ", ".join(f'"{c[0]}"::VARCHAR AS "{c[0]}"' if c[1] == "JSON" else f'"{c[0]}"' for c in columns)
            arrow = con.sql(f"SELECT {select} FROM {table}").to_arrow_table()
            self.register(table, self.session.createDataFrame(arrow))

    def sql(self, sql: str) -> str:
        """The Spark text of a compiler statement."""
        return render(sql, self.engine)

    def frame(self, sql: str) -> pl.DataFrame:
        """The rows of a compiler statement, as a Polars frame."""
        return pl.from_arrow(self.session.sql(self.sql(sql)).toArrow())

    def close(self) -> None:
        """Stop the session and, for a local one, the Java process behind it (stop() alone leaves it running)."""
        self.session.stop()
        from pyspark import SparkContext

        gateway = SparkContext._gateway
        if gateway is None:
            return
        gateway.shutdown()
        process = getattr(gateway, "proc", None)
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        SparkContext._gateway = SparkContext._jvm = None
