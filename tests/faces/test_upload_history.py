"""The Upload page loads two years of history and the crisis log then holds its past crises, as ``ingest`` does."""

from __future__ import annotations

import duckdb

from pipelines.warehouse.store import connect
from tests.crises.test_history_scan import OLD_DIP, RECENT_DIP, two_years_of_answers, week_of
from tests.faces.test_app import open_page


def test_a_history_uploaded_on_the_page_is_scanned_whole_into_the_crisis_log(tmp_path, monkeypatch):
    db = tmp_path / "uploaded.duckdb"
    connect(db).close()
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    answers = two_years_of_answers(tmp_path / "answers.csv").read_bytes()
    app = open_page("upload")
    app.radio(key="upload_kind").set_value("surveys").run()
    app.text_input(key="upload_tz").set_value("UTC").run()
    app.get("file_uploader")[0].set_value(("answers.csv", answers, "text/csv")).run()
    next(b for b in app.button if b.label.startswith("Load")).click().run()
    assert not app.exception, app.exception
    assert any("21,930 loaded" in s.value for s in app.success), [s.value for s in app.success]
    con = duckdb.connect(str(db), read_only=True)
    try:
        starts = {start for (start,) in con.sql("SELECT DISTINCT start_period FROM crises").fetchall()}
        audited = con.sql("SELECT outcome FROM audit_log WHERE action = 'history_scan'").fetchall()
    finally:
        con.close()
    assert starts == {week_of(OLD_DIP[0]), week_of(RECENT_DIP[0])}
    assert audited == [("done",)]
