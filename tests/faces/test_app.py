"""Every Streamlit page opened with AppTest on a fixture warehouse: the numbers shown, not just no exception."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from metrics.kpis.catalog import metric
from metrics.kpis.compute import STATUSES, Query, compute
from metrics.kpis.formats import format_value
from metrics.kpis.settings import load_settings
from pages._frame.language import PAGE_TITLES
from pipelines.ingest import ingest_file
from pipelines.signin import access
from pipelines.warehouse.store import LOCK_WAIT_ENV, connect, load_in_progress
from tests.conftest import FIXTURES, ROOT, add_user_on_admin_page, run_cli
from tests.crises.reflagged import reflag

PAGE_FILES = sorted(p.stem for p in (ROOT / "pages").glob("*.py") if not p.name.startswith("_"))
WEEK_AFTER_ANSWERS = datetime(2026, 7, 6, tzinfo=UTC)


@pytest.fixture
def small_warehouse(tmp_path, monkeypatch) -> Path:
    db = tmp_path / "app.duckdb"
    con = connect(db)
    ingest_file(con, FIXTURES / "profiles" / "generic.csv", "tickets", source_tz="UTC")
    # The answers end on Thursday 2026-07-02; the export is said to describe that whole week, so the
    # week is complete on the data's own clock and the tiles have a latest complete week to show.
    ingest_file(con, FIXTURES / "profiles" / "chatwoot.csv", "surveys", source_tz="UTC", as_of=WEEK_AFTER_ANSWERS)
    ingest_file(con, FIXTURES / "profiles" / "comcast_fcc.csv", "complaints", source_tz="UTC")
    con.close()
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    return db


@pytest.fixture
def demo_copy(demo, tmp_path, monkeypatch) -> Path:
    """A private copy of the session's demo warehouse (crisis log filled), so actions can write to it.

    The demo's history has no crisis flagged in its last weeks, so every one is recovered; the three
    latest are flagged again (``reflag``), so the pages have open crises to list and act on.
    """
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo[0], db)
    con = connect(db)
    reflag(con, 3)
    con.close()
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    return db


def open_page(page: str, query: dict | None = None, session: dict | None = None) -> AppTest:
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    for key, value in (session or {}).items():
        app.session_state[key] = value
    app.run()
    if page != "overview":
        app.switch_page(f"pages/{page}.py")
        app.run()
    assert not app.exception, app.exception
    return app


def latest_week(db: Path, names: tuple[str, ...], filters=()) -> dict[str, dict]:
    """What the tiles must show, computed here from the catalog for the latest complete week."""
    con = duckdb.connect(str(db), read_only=True)
    frame = compute(con, Query(names, "week", filters=filters), load_settings()).filter(pl.col("complete"))
    con.close()
    last = frame.sort("period_start").group_by("metric").agg(pl.all().last())
    return {row["metric"]: row for row in last.iter_rows(named=True)}


def tiles(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_overview_tiles_show_the_latest_week_against_target(demo_copy):
    app = open_page("overview")
    shown = tiles(app)
    expected = latest_week(demo_copy, ("csat", "complaint_rate", "first_response_sla", "ticket_volume"))
    for name, row in expected.items():
        assert shown[metric(name).label] == format_value(row["value"], metric(name).format), name
    # The ticket count is checked against the raw table too, not only against the metrics code.
    week = expected["ticket_volume"]["period_start"]
    con = duckdb.connect(str(demo_copy), read_only=True)
    raw = con.sql(
        "SELECT count(*) FROM tickets WHERE (created_at AT TIME ZONE 'UTC')::DATE BETWEEN ? AND ?",
        params=[week, week + timedelta(days=6)],
    ).fetchall()[0][0]
    con.close()
    assert shown["Tickets"] == f"{raw:,}"
    badges = " ".join(m.value for m in app.markdown)
    assert "target" in badges and "open" in badges


def test_overview_honours_a_filter_from_the_link(demo_copy):
    app = open_page("overview", query={"channel": "email"})
    expected = latest_week(demo_copy, ("ticket_volume", "csat"), filters=(("channel", ("email",)),))
    shown = tiles(app)
    assert shown["Tickets"] == format_value(expected["ticket_volume"]["value"], "count")
    assert shown["CSAT"] == format_value(expected["csat"]["value"], "percent")
    assert app.query_params["channel"] == ["email"] or app.query_params["channel"] == "email"


def test_overview_in_chinese_uses_the_catalog_labels(demo_copy):
    app = open_page("overview", query={"lang": "zh"})
    assert metric("csat").label_zh in tiles(app)
    assert app.title[0].value == "总览"


def test_overview_opens_a_crisis(demo_copy):
    app = open_page("overview")
    open_buttons = [b for b in app.button if b.label == "Open"]
    assert open_buttons, "the demo's crisis log has open crises"
    open_buttons[0].click().run()
    assert not app.exception
    assert any(h.value.startswith("#") for h in app.header)


def test_trends_page_charts_the_kpi_with_its_table(demo_copy):
    app = open_page("trends")
    assert app.get("plotly_chart"), "a chart is drawn"
    frame = app.dataframe[-1].value
    expected = latest_week(demo_copy, ("csat",))["csat"]
    row = frame[frame["Period"] == expected["period_start"].isoformat()]
    assert row["Value"].iloc[0] == format_value(expected["value"], "percent")
    behind = app.dataframe[0].value  # the survey answers behind the newest period
    newest = app.selectbox(key="trend_records_period").value
    assert len(behind) > 0 and (behind["Answered"].str[:10] >= newest.isoformat()).all()
    app.selectbox(key="trend_split").set_value("channel").run()
    assert not app.exception
    assert set(app.dataframe[-1].value["Segment"]) == {"chat", "email", "phone", "social", "web"}


def test_crisis_radar_acknowledges_a_crisis_and_saves_it(demo_copy):
    app = open_page("crisis_radar")
    heading = app.header[0].value
    crisis_id = int(heading.split(":")[0].lstrip("#"))
    assert any("Recommended response" in s.value for s in app.subheader)
    app.text_input(key="actor").set_value("Mei").run()
    app.text_input(key="owner").set_value("Li Na").run()
    next(b for b in app.button if b.label == "Acknowledge").click().run()
    assert not app.exception
    con = duckdb.connect(str(demo_copy), read_only=True)
    status, owner = con.sql("SELECT status, owner FROM crises WHERE crisis_id = ?", params=[crisis_id]).fetchall()[0]
    assert (status, owner) == ("acknowledged", "Li Na")
    # The action is in the audit log, as the local administrator (sign-in is off), on this crisis;
    # the name typed on the page is the one the crisis's own history records.
    audited = con.sql("SELECT actor, role, outcome, target FROM audit_log WHERE action = 'acknowledge'").fetchall()
    assert audited == [(access.local_actor().name, "admin", "done", f"crisis {crisis_id}")]
    assert con.sql(
        "SELECT actor, to_value FROM crisis_events WHERE crisis_id = ? AND action = 'acknowledged'",
        params=[crisis_id],
    ).fetchall() == [("Mei", "acknowledged")]
    con.close()
    assert any("of the flagged periods" in c.value for c in app.caption), "the records behind it are offered"


def test_service_levels_page_shows_backlog_and_tables(demo_copy):
    app = open_page("service_levels")
    con = duckdb.connect(str(demo_copy), read_only=True)
    backlog = compute(con, Query(("backlog",), "week"), load_settings()).sort("period_start")["value"][-1]
    con.close()
    assert tiles(app)["Open tickets (backlog)"] == f"{int(backlog):,}"
    channels = app.dataframe[0].value
    assert set(channels["Channel"]) == {"chat", "email", "phone", "social", "web"}


def test_complaints_page_pareto_and_the_records_behind_a_bar(demo_copy):
    # The whole history, as the counts below: a new session opens on the last 13 months only.
    app = open_page("complaints", {"from": "2000-01-01", "to": "2100-01-01"})
    assert len(app.get("plotly_chart")) >= 2
    breakdown = app.dataframe[0].value
    con = duckdb.connect(str(demo_copy), read_only=True)
    by_product = dict(
        con.sql(
            "SELECT coalesce(c.product, t.product), count(*) FROM complaints c "
            "LEFT JOIN tickets t USING (ticket_id) GROUP BY 1"
        ).fetchall()
    )
    con.close()
    top = breakdown.iloc[0]
    assert top["Complaints"] == by_product[top["Product"]]


def test_upload_of_a_workbook_with_two_tables_asks_which_sheet(small_warehouse):
    import io

    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer)
    for name, ids in (("This week", ["W1", "W2", "W3"]), ("Last week", ["L1", "L2"])):
        sheet = workbook.add_worksheet(name)
        sheet.write_row(0, 0, ["ticket id", "created at", "channel"])
        for row, ticket in enumerate(ids, start=1):
            sheet.write_row(row, 0, [ticket, "2026-07-01 10:00", "email"])
    workbook.close()
    app = open_page("upload")
    app.radio(key="upload_kind").set_value("tickets").run()
    app.get("file_uploader")[0].set_value(("weeks.xlsx", buffer.getvalue(), "application/vnd.ms-excel")).run()
    assert not app.exception, app.exception
    sheet = next(s for s in app.selectbox if s.label == "Sheet")
    assert sheet.options == ["This week", "Last week"]
    assert "3 rows, 3 valid" in " ".join(m.value for m in app.markdown)
    sheet.set_value("Last week").run()
    assert "2 rows, 2 valid" in " ".join(m.value for m in app.markdown)
    next(b for b in app.button if b.label.startswith("Load")).click().run()
    assert not app.exception, app.exception
    con = duckdb.connect(str(small_warehouse), read_only=True)
    assert sorted(
        r[0] for r in con.sql("SELECT ticket_id FROM tickets WHERE ticket_id SIMILAR TO '[WL][0-9]'").fetchall()
    ) == [
        "L1",
        "L2",
    ]
    assert con.sql("SELECT target FROM audit_log WHERE action = 'upload'").fetchall() == [("weeks.xlsx [Last week]",)]
    con.close()


def test_upload_of_surveys_on_two_scales_asks_for_the_scale(small_warehouse):
    mixed = (Path(__file__).parents[1] / "bad_inputs" / "mixed_scales.csv").read_bytes()
    app = open_page("upload")
    app.radio(key="upload_kind").set_value("surveys").run()
    app.get("file_uploader")[0].set_value(("mixed_scales.csv", mixed, "text/csv")).run()
    assert not app.exception, app.exception
    assert [e.value for e in app.error] == [
        "mixed_scales.csv: the scores look like two scales in one column (4 at 4-5 as on a 1-5 survey, 2 at 9-10 "
        "as on 0-10, 1 between); add a scale column, or name the scale"
    ]
    assert not [b for b in app.button if b.label.startswith("Load")]  # nothing to load until the scale is named
    scale = next(s for s in app.selectbox if s.label == "Scale of the scores")
    scale.set_value("1-5").run()
    assert "8 rows, 5 valid" in " ".join(m.value for m in app.markdown)
    next(b for b in app.button if b.label.startswith("Load")).click().run()
    assert not app.exception, app.exception
    con = duckdb.connect(str(small_warehouse), read_only=True)
    assert con.sql(
        "SELECT scale, count(*) FROM survey_responses WHERE response_id SIMILAR TO 'R[1-8]' GROUP BY ALL"
    ).fetchall() == [("1-5", 5)]
    con.close()


def general(reason: str) -> str:
    """A rejection reason without the values it quotes, as tests/ingest/test_bad_inputs.py's OUTCOMES gives it."""
    return re.sub(r" '[^']*'", "", reason)


@pytest.mark.parametrize("kind", ["tickets", "surveys"])
def test_upload_shows_each_bad_file_s_refusal_or_rejections_as_the_command_line_does(small_warehouse, tmp_path, kind):
    from tests.ingest.test_bad_inputs import CORPUS, OUTCOMES

    files = {name: outcome for name, (file_kind, outcome) in OUTCOMES.items() if file_kind == kind}
    app = open_page("upload")
    app.radio(key="upload_kind").set_value(kind).run()
    app.text_input(key="upload_tz").set_value("UTC").run()  # the zone OUTCOMES were taken in
    app.get("file_uploader")[0].set_value([(name, (CORPUS / name).read_bytes(), "text/csv") for name in files]).run()
    assert not app.exception, app.exception
    previews = {e.label.removesuffix(": preview"): e for e in app.expander}
    assert set(previews) == set(files)
    for name, outcome in files.items():
        shown = previews[name]
        if isinstance(outcome, str):
            assert [e.value for e in shown.error] == [f"{name}: {outcome}"]
            continue
        assert not shown.error, (name, shown.error)
        assert f"{sum(outcome.values())} would be rejected" in shown.markdown[0].value, name
        # "Would be rejected: reason (n); ...": each reason quotes its value, so add them up without it.
        captions = [c.value.removeprefix("Would be rejected: ") for c in shown.caption
                    if c.value.startswith("Would be rejected: ")]  # fmt: skip
        assert len(captions) == (1 if outcome else 0), (name, captions)
        previewed: dict[str, int] = {}
        for reason, count in re.findall(r"(.+?) \((\d+)\)(?:; |$)", captions[0] if captions else ""):
            previewed[general(reason)] = previewed.get(general(reason), 0) + int(count)
        assert previewed == outcome, name

    # Load them, and compare with the command line loading the same files into the warehouse as it was.
    loadable = [name for name, outcome in files.items() if isinstance(outcome, dict)]
    as_it_was = tmp_path / "command_line.duckdb"
    shutil.copy(small_warehouse, as_it_was)
    next(b for b in app.button if b.label == f"Load {len(loadable)} file(s)").click().run()
    assert not app.exception, app.exception
    cli = run_cli("ingest", *(str(CORPUS / name) for name in loadable), "--kind", kind, "--tz", "UTC", "--json",
                  "--db", str(as_it_was))  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    results = [json.loads(line) for line in cli.stdout.splitlines()]
    assert [r["file"] for r in results] == loadable
    assert [s.value for s in app.success] == [
        f"{r['file']}: {r['rows_read']:,} rows read: {r['rows_loaded']:,} loaded, {r['rows_updated']:,} updated, "
        f"{r['rows_duplicate']:,} duplicate, {r['rows_rejected']:,} rejected (batch {r['batch_id']})."
        + (f" Its data runs up to {datetime.fromisoformat(r['as_of']):%Y-%m-%d %H:%M} UTC." if r["as_of"] else "")
        for r in results
    ]
    for r in results:
        assert r["rows_rejected"] == sum(files[r["file"]].values()), r
        assert r["rows_read"] == r["rows_loaded"] + r["rows_updated"] + r["rows_duplicate"] + r["rows_rejected"], r
    # "Rejected by reason: reason: n; ...", one line for each file with rejections, in the order loaded.
    by_reason = [m.value.removeprefix("Rejected by reason: ") for m in app.markdown
                 if m.value.startswith("Rejected by reason: ")]  # fmt: skip
    rejecting = [name for name in loadable if files[name]]
    assert len(by_reason) == len(rejecting)
    for name, line in zip(rejecting, by_reason, strict=True):
        shown = {reason: int(n) for reason, n in (part.rsplit(": ", 1) for part in line.split("; "))}
        assert shown == files[name], name


def test_upload_previews_loads_and_reports_rejections(small_warehouse, tmp_path):
    app = open_page("upload")
    csv = (
        b"ticket id,created at,channel,status\n"
        b"U1,2026-07-01 10:00,email,open\n"
        b"U2,not a date,chat,open\n"
        b"U3,2026-07-02 11:00,web,solved\n"
    )
    app.radio(key="upload_kind").set_value("tickets").run()
    app.get("file_uploader")[0].set_value(("new.csv", csv, "text/csv")).run()
    assert not app.exception, app.exception
    preview = " ".join(m.value for m in app.markdown)
    assert "profile **generic**" in preview and "3 rows, 2 valid" in preview
    next(b for b in app.button if b.label.startswith("Load")).click().run()
    assert not app.exception, app.exception
    assert any("3 rows read: 2 loaded, 0 updated, 0 duplicate, 1 rejected" in s.value for s in app.success)
    con = duckdb.connect(str(small_warehouse), read_only=True)
    assert con.sql("SELECT count(*) FROM tickets WHERE ticket_id LIKE 'U%'").fetchall()[0][0] == 2
    con.close()

    # The batch just loaded is offered for undo, and undoing it takes its rows out again.
    app.run()
    undo = app.selectbox(key="undo_batch")
    newest = next(option for option in undo.options if option.endswith(" new.csv"))
    undo.set_value(int(newest.split()[0].lstrip("#"))).run()
    app.button(key="undo_button").click().run()
    assert any("2 rows it added removed" in s.value for s in app.success), [s.value for s in app.success]
    con = duckdb.connect(str(small_warehouse), read_only=True)
    assert con.sql("SELECT count(*) FROM tickets WHERE ticket_id LIKE 'U%'").fetchall()[0][0] == 0
    con.close()


def test_upload_asks_for_a_column_it_cannot_find_in_its_mapper_and_never_names_a_command_line_flag(small_warehouse):
    """The page used to say "name one with --map ticket_id=COLUMN", a command-line flag, in a browser."""
    app = open_page("upload")
    csv = b"Dossier,Badge,Logged On,Chan.\n" + b"".join(
        b"D-%d,B%d,2026-07-0%d 10:00,Web\n" % (n, n * 7, n) for n in range(1, 7)
    )
    app.radio(key="upload_kind").set_value("tickets").run()
    app.get("file_uploader")[0].set_value(("desk.csv", csv, "text/csv")).run()
    assert not app.exception, app.exception
    ticket = app.selectbox(key="map_0_desk.csv_tickets_generic_ticket_id")
    assert ticket.label == "ticket_id (required)" and ticket.value == ""
    assert ticket.options[:2] == ["(none)", "Dossier (e.g. D-1, D-2, D-3)"]
    assert [w.value for w in app.warning] == ["desk.csv: no column for ticket_id; choose one above."]
    assert "--" not in " ".join(e.value for e in [*app.warning, *app.error, *app.caption])
    assert not [b for b in app.button if b.label.startswith("Load")]
    ticket.set_value("Dossier").run()
    app.selectbox(key="map_0_desk.csv_tickets_generic_channel").set_value("Chan.").run()
    assert not app.warning and "6 rows, 6 valid" in " ".join(m.value for m in app.markdown)
    app.text_input(key="save_0_desk.csv").set_value("desk").run()
    next(b for b in app.button if b.label.startswith("Load")).click().run()
    assert not app.exception, app.exception
    con = duckdb.connect(str(small_warehouse), read_only=True)
    assert con.sql("SELECT count(*) FROM tickets WHERE ticket_id LIKE 'D-%' AND channel = 'Web'").fetchall() == [(6,)]
    assert con.sql("SELECT name FROM saved_profiles").fetchall() == [("desk",)]
    con.close()


def test_upload_says_up_to_when_the_data_runs_and_how_many_rows_were_keyed_by_their_content(small_warehouse):
    app = open_page("upload")
    csv = b"ticket id,created at,channel\nK1,2026-07-01 10:00,email\n,2026-07-01 11:00,chat\n,2026-07-02 09:30,web\n"
    app.radio(key="upload_kind").set_value("tickets").run()
    app.text_input(key="upload_tz").set_value("UTC").run()
    app.get("file_uploader")[0].set_value(("keys.csv", csv, "text/csv")).run()
    next(b for b in app.button if b.label.startswith("Load")).click().run()
    assert not app.exception, app.exception
    (line,) = [s.value for s in app.success]
    assert line.startswith("keys.csv: 3 rows read: 3 loaded, 0 updated, 0 duplicate, 0 rejected (batch ")
    assert line.endswith(
        "). Its data runs up to 2026-07-02 09:30 UTC. 2 row(s) had no ticket id: each was given one made from its "
        "content, so loading the same file again adds nothing twice."
    )


def test_upload_shows_which_spellings_it_stored_as_one(small_warehouse):
    app = open_page("upload")
    rows = [("S1", "EMAIL"), ("S2", "E-mail"), ("S3", "email")]
    csv = ("ticket id,created at,channel\n" + "".join(f"{i},2026-07-03 10:00,{c}\n" for i, c in rows)).encode()
    app.radio(key="upload_kind").set_value("tickets").run()
    app.text_input(key="upload_tz").set_value("UTC").run()
    app.get("file_uploader")[0].set_value(("spelt.csv", csv, "text/csv")).run()
    next(b for b in app.button if b.label.startswith("Load")).click().run()
    assert not app.exception, app.exception
    (line,) = [s.value for s in app.success]
    con = duckdb.connect(str(small_warehouse), read_only=True)
    stored = con.sql("SELECT channel FROM tickets WHERE ticket_id IN ('S1', 'S3') GROUP BY ALL").fetchall()
    con.close()
    assert len(stored) == 1  # EMAIL and email are one segment; E-mail is another spelling, kept apart
    (canonical,) = stored[0]
    other = ({"EMAIL", "email"} - {canonical}).pop()
    said = f" Values differing only in case or spacing were stored as one: channel {other} → {canonical} (1 row)."
    assert line.endswith(said)


@contextmanager
def a_command_line_load(db: Path) -> Iterator[subprocess.Popen]:
    """Another process holding the warehouse as ``csat-radar ingest`` does, until the block ends.

    Like tests/ingest/test_faults.py's ``hold(as_a_load=True)``: it publishes the copy readers use and
    writes after taking it; at the end it drops the copy and lets go, as a load that finishes does.
    """
    script = (
        "import sys; from pipelines.warehouse.store import connect, publish_snapshot, drop_snapshot; "
        "con = connect(sys.argv[1]); publish_snapshot(con); "
        "con.execute('CREATE TABLE written_during_the_load AS SELECT 1 AS n'); "
        "print('holding', flush=True); sys.stdin.readline(); drop_snapshot(con); con.close()"
    )
    holder = subprocess.Popen([sys.executable, "-c", script, str(db)], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "holding"
        yield holder
        holder.communicate("done\n", timeout=60)
        assert holder.returncode == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_while_a_command_line_load_holds_the_warehouse_the_pages_say_so_and_show_it_as_it_was(
    small_warehouse, monkeypatch
):
    monkeypatch.setenv(LOCK_WAIT_ENV, "2")  # a page that waited for the warehouse would fail, not hang
    expected = latest_week(small_warehouse, ("ticket_volume", "csat"))
    with a_command_line_load(small_warehouse):
        began = load_in_progress(small_warehouse)
        assert began is not None
        app = open_page("overview")
        assert [w.value for w in app.sidebar.warning] == [
            f"A load from the command line is running (since {began:%H:%M} UTC): the pages show the "
            "warehouse as it was when it began."
        ]
        shown = tiles(app)
        assert shown["Tickets"] == format_value(expected["ticket_volume"]["value"], "count")
        assert shown["CSAT"] == format_value(expected["csat"]["value"], "percent")
        assert not app.info and not app.error, [m.value for m in (*app.info, *app.error)]  # read without waiting
    assert load_in_progress(small_warehouse) is None
    app.run()
    assert not app.exception, app.exception
    assert not app.sidebar.warning, [w.value for w in app.sidebar.warning]
    assert tiles(app)["Tickets"] == format_value(expected["ticket_volume"]["value"], "count")


def test_quarterly_review_offers_both_downloads(demo_copy):
    app = open_page("quarterly_review")
    labels = [b.label for b in app.get("download_button")]
    assert "Download report (HTML)" in labels and "Download workbook (Excel)" in labels
    kpis = app.table[0].value
    con = duckdb.connect(str(demo_copy), read_only=True)
    from metrics.reports.review import last_complete_quarter, quarterly_review

    expected = quarterly_review(con, last_complete_quarter(con)).kpis
    con.close()
    shown = dict(zip(kpis["KPI"], kpis["Value"], strict=True))
    assert shown == dict(zip(expected["label"], expected["value"], strict=True))


@pytest.mark.parametrize("page", PAGE_FILES)
def test_every_page_on_an_empty_warehouse_says_so(page, tmp_path, monkeypatch):
    monkeypatch.setenv("CSAT_RADAR_DB", str(tmp_path / "empty.duckdb"))
    app = open_page(page)
    if page == "upload":
        assert any("No file has been loaded yet" in c.value for c in app.caption)
    elif page == "admin":  # users can be set up before anything is loaded
        assert any("Sign-in is off" in c.value for c in app.caption)
    else:
        assert any("The warehouse is empty" in i.value for i in app.info)
        assert not app.metric


@pytest.mark.parametrize("page", [p for p in PAGE_FILES if p not in ("upload",)])
def test_every_page_with_a_filter_that_leaves_nothing(page, small_warehouse):
    far = (datetime.now(UTC) + timedelta(days=3650)).date().isoformat()
    app = open_page(page, query={"product": "no such product", "from": far, "to": far})
    assert not app.exception


def test_admin_page_without_sign_in_adds_a_user_and_shows_the_audit_log(small_warehouse):
    app = open_page("admin")
    assert any("Sign-in is off: everyone who can open this dashboard acts as an administrator" in c.value
               for c in app.caption)  # fmt: skip
    add_user_on_admin_page(app, "lead@example.com", "manager", segments="team=Billing, team=Technical")
    assert not app.exception, app.exception
    assert [s.value for s in app.success] == ["Saved. lead\u2060\\@example\\.com: manager"]  # text, not a mailto link
    users, _targets, audit = (frame.value for frame in app.dataframe)
    assert users[["User", "Role", "Password set"]].values.tolist() == [["lead@example.com", "manager", "no"]]
    assert audit[["Action", "Outcome", "Target"]].values.tolist()[0] == ["add user", "done", "lead@example.com"]
    assert audit["Who"][0].startswith("local:")
    add_user_on_admin_page(app, "someone", "manager", segments="planet=Mars")
    assert [e.value for e in app.error] == [
        "'planet' is not a dimension (use channel, customer_tier, product, region, team)"
    ]


def test_every_interface_string_has_its_chinese():
    import re

    from metrics.kpis.messages import ZH as BELOW_ZH
    from pages._frame.language import ZH

    # One catalog, two tables: the pages' words and those the layers below hand up (t() reads both).
    catalog = set(ZH) | set(BELOW_ZH)
    wrapped = {m for p in (ROOT / "pages").glob("[!_]*.py") for m in re.findall(r'\bt\("([^"]+)"\)', p.read_text())}
    assert wrapped, "pages wrap their words in t()"
    assert not wrapped - catalog, f"no Chinese for: {sorted(wrapped - catalog)}"
    assert set(STATUSES.values()) <= set(ZH), "every KPI status reads in Chinese too"


def test_every_page_file_is_registered_and_has_its_own_test():
    """Each page needs a test here that opens it by name and checks what it shows, not only the empty state."""
    assert set(PAGE_FILES) == set(PAGE_TITLES), "every page file must be in the navigation"
    source = Path(__file__).read_text(encoding="utf-8")
    untested = {page for page in PAGE_FILES if f'open_page("{page}"' not in source}
    assert not untested, f"pages no test opens by name: {untested}"


def test_every_question_a_page_asks_is_in_the_page_registry():
    """The benchmark times each page through PAGE_QUESTIONS; a page asking something unlisted would go untimed."""
    import re

    from metrics.views import dashboard
    from metrics.views.dashboard import PAGE_QUESTIONS

    assert set(PAGE_QUESTIONS) == set(PAGE_FILES)
    for page in PAGE_FILES:
        source = (ROOT / "pages" / f"{page}.py").read_text(encoding="utf-8")
        asked = set(re.findall(r"\bask\(\s*dashboard\.(\w+)\b", source))
        # Every question is asked as dashboard.NAME, so none escapes the checks below.
        assert len(re.findall(r"\bask\(", source)) == len(re.findall(r"\bask\(\s*dashboard\.\w+", source)), page
        assert all(callable(getattr(dashboard, question, None)) for question in asked), (page, asked)
        listed = {question.__name__ for question, _ in PAGE_QUESTIONS[page]}
        assert asked <= listed, (page, asked - listed)


def first_listed_crisis(db: Path) -> int:
    """The crisis the page shows when the link names none: the first of the open crises it lists."""
    app = open_page("crisis_radar")
    return int(app.header[0].value.split(":")[0].lstrip("#"))


@pytest.mark.parametrize("text", ["²", "٣", "-1", "0", "1e3", "9" * 30, " 5", "5 ", "0x1f"])
def test_a_link_whose_crisis_is_not_a_number_says_so_in_one_line_and_shows_the_first_crisis(demo_copy, text):
    expected = first_listed_crisis(demo_copy)
    app = open_page("crisis_radar", query={"crisis": text})
    assert not app.exception
    assert [w.value for w in app.warning] == [
        f"The link's crisis {text!r} is not a crisis number; showing the first one instead."
    ]
    assert app.header[0].value.startswith(f"#{expected}:")


def test_a_link_with_an_empty_crisis_shows_the_first_crisis_without_a_warning(demo_copy):
    expected = first_listed_crisis(demo_copy)
    app = open_page("crisis_radar", query={"crisis": ""})
    assert not app.exception and not app.warning
    assert app.header[0].value.startswith(f"#{expected}:")


def test_a_link_to_a_crisis_that_does_not_exist_says_so_in_one_line(demo_copy):
    con = duckdb.connect(str(demo_copy), read_only=True)
    missing = con.sql("SELECT max(crisis_id) + 1000 FROM crises").fetchall()[0][0]
    con.close()
    app = open_page("crisis_radar", query={"crisis": str(missing)})
    assert not app.exception
    assert [e.value for e in app.error] == [f"crisis {missing} does not exist"]
    assert not app.header, "no crisis is shown"


def test_a_link_to_a_crisis_outside_the_users_segments_shows_nothing_of_it(demo_copy, monkeypatch):
    con = connect(demo_copy)
    team, hidden = con.sql(
        "SELECT min(segment), max_by(crisis_id, segment) FROM crises WHERE dimension = 'team'"
    ).fetchall()[0]
    other = con.sql("SELECT segment FROM crises WHERE crisis_id = ?", params=[hidden]).fetchall()[0][0]
    assert other != team, "the demo has crises in two teams"
    access.add_user(con, "lead", "manager", "a long enough secret", {"team": [team]}, created_by="test")
    con.close()
    monkeypatch.setenv(access.AUTH_ENV, "password")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.query_params["crisis"] = str(hidden)
    app.run()
    app.text_input(key="sign_in_name").set_value("lead")
    app.text_input(key="sign_in_password").set_value("a long enough secret")
    app.button[0].click()
    app.run()
    app.switch_page("pages/crisis_radar.py")
    app.run()
    assert not app.exception
    assert [e.value for e in app.error] == [f"Crisis {hidden} is not in the log or outside the segments you may see."]
    assert not app.header and other not in " ".join(m.value for m in app.markdown)
