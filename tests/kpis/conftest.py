"""Fixtures of the KPI tests that several files share."""

from __future__ import annotations

import pytest

from tests.kpis.spark_parity import spark_or_skip


@pytest.fixture(scope="module")
def spark():
    """A local Spark for the file's tests (a skip without pyspark or Java, a failure where CI requires it).

    Per file, and stopped with its Java process after it: pytest-xdist runs files in separate
    processes, which could not share one session anyway.
    """
    engine = spark_or_skip()
    yield engine
    engine.close()
