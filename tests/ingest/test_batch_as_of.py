"""A load says the moment its export describes, and ``--as-of`` is checked before anything is written.

The Upload page and ``ingest --json`` show the batch's ``as_of`` from the ``BatchResult``; a bad
``--as-of`` is one line naming the problem, never argparse's usage text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from metrics.kpis.marts import load_export
from pipelines.warehouse.store import connect, table_counts
from tests.conftest import run_cli, write

# Reviews in headers of our own spelling; the latest event is an answer at 21:10 in Lisbon's summer time.
REVIEWS = """Ref;Answered;Stars
R-1;2025-06-02 09:00:00+01:00;5
R-2;2025-06-03 14:30:00+01:00;2
R-3;2025-06-04 21:10:00+01:00;4
"""
MAPPING = {"response_id": "Ref", "responded_at": "Answered", "score": "Stars"}
MAPPED = ("--map", "response_id=Ref", "--map", "responded_at=Answered", "--map", "score=Stars")


def test_the_batch_result_carries_the_moment_its_export_describes(tmp_path):
    source = write(tmp_path / "reviews.csv", REVIEWS)
    con = connect(tmp_path / "w.duckdb")
    try:
        result = load_export(con, source, "surveys", mapping=MAPPING)
        assert result.as_of == datetime(2025, 6, 4, 20, 10, tzinfo=UTC)
        given = load_export(con, source, "surveys", mapping=MAPPING, as_of=datetime(2025, 6, 8, 12))
        assert given.as_of == datetime(2025, 6, 8, 12, tzinfo=UTC), "a naive moment is UTC"
    finally:
        con.close()


def test_ingest_json_says_each_file_s_as_of(tmp_path):
    source = write(tmp_path / "reviews.csv", REVIEWS)
    loaded = run_cli("ingest", str(source), "--kind", "surveys", "--json", *MAPPED, "--db", str(tmp_path / "w.duckdb"))
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["as_of"] == "2025-06-04T20:10:00+00:00"


def test_a_bad_as_of_is_one_line_naming_it_and_nothing_is_written(tmp_path):
    source = write(tmp_path / "reviews.csv", REVIEWS)
    db = tmp_path / "w.duckdb"
    for bad in ("2025-13-01", "yesterday", "2025-06-04T25:00"):
        refused = run_cli("ingest", str(source), "--kind", "surveys", *MAPPED, "--as-of", bad, "--db", str(db))
        assert refused.returncode == 2
        assert refused.stderr.splitlines() == [
            f"csat-radar: --as-of: expected a date or moment like 2026-11-15 or 2026-11-15T18:00+01:00, got {bad!r}"
        ]
    early = run_cli("ingest", str(source), "--kind", "surveys", *MAPPED, "--as-of", "2025-06-03", "--db", str(db))
    assert early.returncode == 2
    assert early.stderr.splitlines() == [
        "csat-radar: reviews.csv: --as-of 2025-06-04 00:00 UTC is before the file's latest event, 2025-06-04 20:10 UTC;"
        " the moment an export describes is at or after its events"
    ]
    con = connect(db, read_only=True)
    try:
        assert table_counts(con)["survey_responses"] == 0 and table_counts(con)["batches"] == 0
    finally:
        con.close()
