"""Meta-tests over the profile registry: every built-in profile is valid, documented and proven on a file."""

from __future__ import annotations

import re

import pytest

from pipelines.ingest import ingest_file
from pipelines.read.export import read_export
from pipelines.read.raw import LINE
from pipelines.stage.profiles import PSEUDO_COLUMNS, builtin_profiles, choose_profile
from pipelines.warehouse.schema import TABLES
from tests.conftest import FIXTURES

# Every built-in profile: (fixture kind, rows read, loaded, updated, rejected).
PROVEN = {
    "generic": ("tickets", 3, 3, 0, 0),
    "chinese": ("tickets", 2, 2, 0, 0),
    "zendesk": ("surveys", 3, 2, 0, 1),
    "freshdesk": ("tickets", 2, 2, 0, 0),
    "salesforce": ("tickets", 3, 3, 0, 0),
    "intercom": ("surveys", 2, 2, 0, 0),
    "chatwoot": ("surveys", 3, 3, 0, 0),
    "cfpb": ("complaints", 40, 40, 0, 0),
    "comcast_fcc": ("complaints", 3, 3, 0, 0),
    "servicenow": ("tickets", 93, 12, 81, 0),
    "twitter_support": ("tickets", 6, 2, 3, 1),
    "car_complaints_cn": ("complaints", 2, 2, 0, 0),
}

KNOWN_COLUMNS = {c for t in TABLES.values() for c in t.column_names} | set(PSEUDO_COLUMNS)


def test_every_builtin_profile_has_a_proving_fixture():
    assert set(builtin_profiles()) == set(PROVEN)


@pytest.mark.parametrize("name", sorted(PROVEN))
def test_profile_is_well_formed(name):
    profile = builtin_profiles()[name]
    assert profile.label and profile.label != name
    assert set(profile.kinds) <= set(TABLES)
    assert set(profile.columns) <= KNOWN_COLUMNS, set(profile.columns) - KNOWN_COLUMNS
    assert set(profile.constants) <= KNOWN_COLUMNS


@pytest.mark.parametrize("name", sorted(PROVEN))
def test_fixture_is_recognised_and_loads(con, name):
    kind, rows_read, loaded, updated, rejected = PROVEN[name]
    path = FIXTURES / "profiles" / f"{name}.csv"
    raw = read_export(path)
    assert choose_profile(kind, raw.source_columns, path.name).name == name
    result = ingest_file(con, path, kind, source_tz="UTC")
    assert (result.rows_read, result.rows_loaded, result.rows_updated, result.rows_rejected) == (
        rows_read,
        loaded,
        updated,
        rejected,
    )


def test_freshdesk_first_response_comes_from_its_timestamp_and_zendesk_from_minutes(con):
    ingest_file(con, FIXTURES / "profiles" / "freshdesk.csv", "tickets", source_tz="UTC")
    ingest_file(con, FIXTURES / "profiles" / "zendesk.csv", "tickets", source_tz="UTC")
    minutes = dict(
        con.sql("SELECT ticket_id, (epoch(first_response_at) - epoch(created_at)) / 60 FROM tickets").fetchall()
    )
    assert minutes["5001"] == 45 and minutes["101"] == 35 and minutes["102"] == 95


def test_salesforce_us_dates_are_month_first(con):
    ingest_file(con, FIXTURES / "profiles" / "salesforce.csv", "tickets", source_tz="UTC")
    row = con.sql("SELECT strftime(created_at, '%Y-%m-%d %H:%M') FROM tickets WHERE ticket_id='00001003'").fetchall()
    assert row == [("2026-05-13 08:00",)]


def _respelled(header: str) -> str:
    """The same header as another tool writes it: upper case, words joined by underscores."""
    return re.sub(r"[\s\-/]+", "_", header.strip()).upper()


@pytest.mark.parametrize("name", sorted(PROVEN))
def test_fixture_with_headers_in_another_case_and_separator_is_recognised_and_loads_alike(con, tmp_path, name):
    kind, _, loaded, updated, _ = PROVEN[name]
    raw = read_export(FIXTURES / "profiles" / f"{name}.csv")
    frame = raw.frame.drop(LINE)
    respelled = frame.rename({h: _respelled(h) for h in frame.columns})
    path = tmp_path / f"{name}_respelled.csv"
    respelled.write_csv(path)
    assert choose_profile(kind, respelled.columns, path.name).name == name
    result = ingest_file(con, path, kind, source_tz="UTC")
    assert (result.profile, result.rows_loaded, result.rows_updated) == (name, loaded, updated)
