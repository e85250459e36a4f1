"""A first load of years of history is scanned whole once, so the crisis log holds its history.

The usual scans judge the data's last 90 days; without this a history's older crises never reach
the log. Two years of survey answers (headers of our own) with two known dips: one 18 months
before the data's end, one in its last 90 days. The data ends 2026-09-30, weeks before today.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from metrics.crises.log import list_crises
from pipelines.warehouse.store import connect
from tests.conftest import run_cli

END = date(2026, 9, 30)
START = END - timedelta(days=730)
OLD_DIP, RECENT_DIP = (date(2025, 3, 24), date(2025, 4, 13)), (date(2026, 8, 10), date(2026, 8, 30))
ANSWERS_PER_DAY = 30


def two_years_of_answers(path: Path) -> Path:
    """Answers 1-5, 86% satisfied, but 45% during the two dips; seeded, so the same file every run."""
    rng = np.random.default_rng(19)
    days = pl.date_range(START, END, "1d", eager=True)
    frame = pl.DataFrame({"day": np.repeat(days.to_numpy(), ANSWERS_PER_DAY)}).with_columns(pl.col("day").cast(pl.Date))
    n = frame.height
    in_dip = pl.col("day").is_between(*OLD_DIP) | pl.col("day").is_between(*RECENT_DIP)
    satisfied = frame.select(pl.Series(rng.random(n)) < pl.when(in_dip).then(0.45).otherwise(0.86)).to_series()
    stars = np.where(satisfied.to_numpy(), rng.integers(4, 6, n), rng.integers(1, 4, n))
    frame.select(
        (pl.lit("ANS-") + pl.int_range(pl.len()).cast(pl.String)).alias("Answer Ref"),
        (pl.col("day").cast(pl.Datetime) + pl.duration(minutes=pl.Series(rng.integers(8 * 60, 20 * 60, n))))
        .dt.strftime("%Y-%m-%d %H:%M")
        .alias("Answered"),
        pl.Series("Stars", stars),
    ).write_csv(path)
    return path


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("history")
    source, db = two_years_of_answers(folder / "answers.csv"), folder / "history.duckdb"
    first = run_cli("ingest", str(source), "--kind", "surveys", "--tz", "UTC", "--db", str(db))
    assert first.returncode == 0, first.stderr
    return source, db, first


def test_the_first_load_scans_the_whole_history_into_the_crisis_log(loaded):
    _, db, first = loaded
    assert f"history scanned for crises at week grain, {START} → {END}" in first.stdout
    con = connect(db, read_only=True)
    try:
        log = list_crises(con)
    finally:
        con.close()
    assert set(log["start_period"]) == {week_of(OLD_DIP[0]), week_of(RECENT_DIP[0])}, "each dip, and nothing else"
    assert max(log["last_flagged"]) <= week_of(END), "nothing raised after the data's end"


def test_crises_without_since_list_only_the_data_s_last_90_days(loaded):
    _, db, _ = loaded
    listed = run_cli("crises", "--json", "--db", str(db))
    assert listed.returncode == 0, listed.stderr
    starts = {date.fromisoformat(c["start"]) for c in json.loads(listed.stdout)}
    assert starts == {week_of(RECENT_DIP[0])}
    everything = run_cli("crises", "--json", "--since", str(START), "--db", str(db))
    assert {date.fromisoformat(c["start"]) for c in json.loads(everything.stdout)} == {
        week_of(OLD_DIP[0]),
        week_of(RECENT_DIP[0]),
    }


def test_a_history_already_scanned_is_not_scanned_again(loaded):
    source, db, _ = loaded
    again = run_cli("ingest", str(source), "--kind", "surveys", "--tz", "UTC", "--db", str(db))
    assert again.returncode == 0, again.stderr
    assert "duplicate" in again.stdout and "history scanned" not in again.stdout


def test_a_crisis_quiet_for_months_before_the_data_s_end_is_logged_recovered_not_open(loaded):
    """The old dip ended 17 months before the data's end: the open list must not start out with it."""
    _, db, _ = loaded
    con = connect(db, read_only=True)
    try:
        log = list_crises(con).sort("start_period")
        stamps = con.sql("SELECT DISTINCT \"at\"::DATE FROM crisis_events WHERE action = 'recovery_proposed'")
        stamps = stamps.fetchall()
    finally:
        con.close()
    old, recent = log.row(0, named=True), log.row(1, named=True)
    assert (old["status"], old["is_open"], old["end_period"]) == ("recovered", False, None)  # a person confirms
    assert stamps == [(END,)], "on the data's clock (its as-of, its last answer), not today's"
    # The recent dip was flagged up to two weeks before the end: not yet the rules' two quiet weeks.
    assert (recent["status"], recent["is_open"]) == ("detected", True)


def test_a_crisis_back_inside_its_limits_is_listed_as_quiet_since_its_last_flag_not_ongoing(loaded):
    _, db, _ = loaded
    listed = run_cli("crises", "--since", str(START), "--db", str(db))
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stdout.splitlines() if line.startswith("#")]
    old = next(line for line in lines if str(week_of(OLD_DIP[0])) in line)
    assert "[recovered]" in old and "→ last flagged 2025-" in old and "ongoing" not in old, old
    assert all("[recovered]" not in line for line in lines if "ongoing" in line), listed.stdout
