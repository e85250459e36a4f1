"""The suite's KPI checks pass with the process in another time zone than UTC.

DuckDB's session zone follows the host's unless set, and a TIMESTAMPTZ literal or a cast to a
date would then read differently on a machine in New York; the warehouse pins it to UTC
(``pipelines.warehouse.store._session``). This runs the KPI tests in a process whose zone is
America/New_York (behind UTC, with daylight saving) to catch any place that leaks the host's zone.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

CHECKS = ("tests/kpis/test_metrics.py", "tests/kpis/test_no_data.py")


ZONE = "America/New_York"


def test_the_kpi_checks_pass_in_new_york():
    env = {**os.environ, "TZ": ZONE}
    # The zone reaches both Python and DuckDB's default session zone, so a pass is not a run in UTC.
    probe = """import duckdb, time
print(time.tzname[0], duckdb.sql("SELECT current_setting('TimeZone')").fetchall()[0][0])"""
    seen = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert seen.stdout.split() == ["EST", ZONE], seen.stderr
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *CHECKS],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-40:])
    assert result.returncode == 0, tail
    assert " passed" in tail and "failed" not in tail, tail
