"""The command-line contract: ingest --json records, exit codes, one-line errors, --db and the env variable."""

from __future__ import annotations

import json

import duckdb

from tests.conftest import FIXTURES, run_cli, write


def counts(db_path):
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return {t: con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("tickets", "batches")}
    finally:
        con.close()


def test_ingest_json_prints_one_record_per_file(db_path):
    result = run_cli(
        "ingest",
        str(FIXTURES / "profiles" / "generic.csv"),
        str(FIXTURES / "profiles" / "zendesk.csv"),
        "--kind",
        "tickets",
        "--tz",
        "UTC",
        "--db",
        str(db_path),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["file"] for r in records] == ["generic.csv", "zendesk.csv"]
    assert [r["profile"] for r in records] == ["generic", "zendesk"]
    for record in records:
        assert set(record) >= {
            "file", "kind", "profile", "rows_read", "rows_loaded", "rows_updated",
            "rows_duplicate", "rows_rejected", "rejections", "batch_id",
        }  # fmt: skip
        assert (
            record["rows_read"]
            == record["rows_loaded"] + record["rows_updated"] + record["rows_duplicate"] + record["rows_rejected"]
        )
    assert counts(db_path) == {"tickets": 6, "batches": 2}


def test_unreadable_file_exits_2_with_one_line_and_writes_nothing(db_path, tmp_path):
    garbage = tmp_path / "export.csv"
    garbage.write_bytes(bytes(range(256)) * 10)
    result = run_cli("ingest", str(garbage), "--kind", "tickets", "--db", str(db_path))
    assert result.returncode == 2
    assert result.stderr.strip() == "csat-radar: export.csv: binary content, not a text table"
    assert "Traceback" not in result.stderr
    assert counts(db_path) == {"tickets": 0, "batches": 0}


def test_one_bad_file_does_not_stop_the_others(db_path, tmp_path):
    empty = write(tmp_path / "empty.csv", "")
    result = run_cli(
        "ingest", str(empty), str(FIXTURES / "profiles" / "generic.csv"), "--kind", "tickets", "--db", str(db_path)
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "csat-radar: empty.csv: the file is empty"
    assert "generic.csv: 3 read as tickets (profile generic" in result.stdout
    assert counts(db_path)["tickets"] == 3


def test_missing_file_and_bad_map_are_one_line_errors(db_path):
    missing = run_cli("ingest", "nowhere.csv", "--kind", "tickets", "--db", str(db_path))
    assert (missing.returncode, missing.stderr.strip()) == (2, "csat-radar: nowhere.csv: file not found")
    bad_map = run_cli(
        "ingest", str(FIXTURES / "profiles" / "generic.csv"), "--kind", "tickets", "--map", "ticket_id", "--db",
        str(db_path),
    )  # fmt: skip
    assert bad_map.returncode == 2
    assert bad_map.stderr.strip() == "csat-radar: --map: expected CANONICAL=SOURCE, got 'ticket_id'"


def test_db_comes_from_the_environment_when_not_given(tmp_path):
    db = tmp_path / "from-env.duckdb"
    result = run_cli(
        "ingest", str(FIXTURES / "profiles" / "generic.csv"), "--kind", "tickets", env={"CSAT_RADAR_DB": str(db)}
    )
    assert result.returncode == 0, result.stderr
    assert counts(db)["tickets"] == 3
    status = run_cli("status", "--json", env={"CSAT_RADAR_DB": str(db)})
    assert json.loads(status.stdout)["tickets"] == 3


def test_kpis_json_records_and_conventions(demo, tmp_path):
    db, _, _ = demo
    result = run_cli(
        "kpis", "--db", str(db), "--grain", "month", "--by", "channel", "--metric", "csat",
        "--from", "2026-01-01", "--to", "2026-03-31", "--json", "--explain",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert {r["period_start"] for r in records} == {"2026-01-01", "2026-02-01", "2026-03-01"}
    assert {r["segment"] for r in records} == {"email", "phone", "chat", "web", "social"}
    for r in records:
        assert set(r) == {
            "period_start", "grain", "dimension", "segment", "metric", "value", "numerator", "denominator",
            "ci_low", "ci_high", "n", "target", "status", "complete", "reason",
        }  # fmt: skip
        assert r["complete"] is True  # whole months, within the dates and the data
        assert r["reason"] is None  # every csat answer is there: nothing lacking
        assert 0 <= r["ci_low"] <= r["value"] <= r["ci_high"] <= 1
        assert r["value"] == r["numerator"] / r["denominator"]
        assert r["target"] == 0.9 and r["dimension"] == "channel"
    assert "first-response clock: starts at created_at" in result.stderr
    csv_out = run_cli("kpis", "--db", str(db), "--grain", "quarter", "--metric", "ticket_volume", "--csv")
    assert csv_out.stdout.splitlines()[0].startswith("period_start,grain,dimension,segment,metric,value")


def test_kpis_bad_dimension_is_one_line(demo):
    db, _, _ = demo
    result = run_cli("kpis", "--db", str(db), "--by", "colour")
    assert result.returncode == 2
    assert result.stderr.startswith("csat-radar: kpis: unknown dimension 'colour'")
    assert len(result.stderr.strip().splitlines()) == 1


def test_no_progress_bar_can_reach_piped_json(tmp_path):
    """DuckDB draws a progress bar on standard output past two seconds of a query; on a busy
    machine it landed inside `crises --json > file`. Every connection of the warehouse has it off."""
    from pipelines.warehouse.store import connect, connect_for_reading

    db = tmp_path / "w.duckdb"
    con = connect(db)
    assert con.sql("SELECT current_setting('enable_progress_bar')").fetchall() == [(False,)]
    con.close()
    reader = connect_for_reading(db)
    assert reader.sql("SELECT current_setting('enable_progress_bar')").fetchall() == [(False,)]
    reader.close()
