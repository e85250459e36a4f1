"""Sign-in, roles enforced on the server, segment restriction, the audit log and personal data."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from metrics.reports.exports import csv_bytes
from pipelines.ingest import ingest_file
from pipelines.signin import access
from pipelines.stage.personal import mask
from pipelines.undo import undo_batch
from pipelines.warehouse.store import connect, table_counts
from tests.conftest import FIXTURES, ROOT, add_user_on_admin_page, run_cli, write

PASSWORD = "correct horse battery"


def users_db(tmp_path: Path) -> Path:
    """A small warehouse with one user of each role, and a team lead limited to team Billing."""
    db = tmp_path / "users.duckdb"
    con = connect(db)
    source = FIXTURES / "profiles" / "generic.csv"
    access.perform(con, access.local_actor(), "upload", ingest_file, source, "tickets", source_tz="UTC")
    for role in access.roles():
        access.add_user(con, role, role, PASSWORD, created_by="test")
    access.add_user(con, "lead", "manager", PASSWORD, {"team": ["Billing"]}, created_by="test")
    con.close()
    return db


def test_registry_every_role_and_action_is_coherent_and_every_action_is_wired():
    roles = access.roles()
    assert roles == ["viewer", "analyst", "manager", "admin"]
    for role, entry in access.REGISTRY["roles"].items():
        assert entry["description"] and entry["label"]
        assert set(entry.get("includes", [])) <= set(roles) - {role}
    granted = set().union(*(access.permissions(r) for r in roles))
    callers = "\n".join(p.read_text() for p in [*(ROOT / "pages").rglob("*.py"), *(ROOT / "cli").rglob("*.py")])
    for name, entry in access.actions().items():
        assert entry["permission"] in granted, f"no role may {name}"
        assert re.search(rf'"{name}",', callers), f"action {name} is not performed by any page or command"
    # each role may do strictly more than the one before it
    for lower, higher in itertools.pairwise(roles):
        assert access.permissions(lower) < access.permissions(higher)


@pytest.mark.parametrize("action", sorted(access.actions()))
def test_every_action_is_refused_on_the_server_to_roles_without_its_permission(tmp_path, action):
    """perform() is the gate: a refused actor's function never runs, and the refusal is audited."""
    con = connect(tmp_path / "gate.duckdb")
    con.execute("CREATE TABLE touched (n INTEGER)")
    needed = access.actions()[action]["permission"]

    def would_write(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("INSERT INTO touched VALUES (1)")

    for role in access.roles():
        actor = access.Actor(f"someone-{role}", role)
        if needed in access.permissions(role):
            access.perform(con, actor, action, would_write, target="t")
        else:
            with pytest.raises(access.AccessDenied, match="may not"):
                access.perform(con, actor, action, would_write, target="t")
    allowed = [r for r in access.roles() if needed in access.permissions(r)]
    assert con.sql("SELECT count(*) FROM touched").fetchall()[0][0] == len(allowed)
    outcomes = dict(con.sql("SELECT role, outcome FROM audit_log WHERE action = ?", params=[action]).fetchall())
    assert outcomes == {r: ("done" if r in allowed else "refused") for r in access.roles()}
    con.close()


def test_a_viewer_cannot_upload_or_undo_and_nothing_is_written(tmp_path):
    db = users_db(tmp_path)
    con = connect(db)
    before = table_counts(con)
    viewer = access.Actor("viewer", "viewer")
    with pytest.raises(access.AccessDenied):
        access.perform(con, viewer, "upload", ingest_file, FIXTURES / "profiles" / "generic.csv", "surveys")
    with pytest.raises(access.AccessDenied):
        access.perform(con, viewer, "undo", undo_batch, 1)
    assert table_counts(con) == before
    analyst = access.Actor("analyst", "analyst")
    result = access.perform(con, analyst, "undo", undo_batch, 1, target="batch 1")
    assert result["removed"] > 0
    rows = con.sql("SELECT actor, action, outcome, target FROM audit_log ORDER BY audit_id").fetchall()
    assert rows[-3:] == [
        ("viewer", "upload", "refused", None),
        ("viewer", "undo", "refused", None),
        ("analyst", "undo", "done", "batch 1"),
    ]
    con.close()


def test_passwords_are_stored_only_as_salted_argon2_hashes(tmp_path):
    con = connect(tmp_path / "p.duckdb")
    access.add_user(con, "ann", "viewer", PASSWORD)
    access.add_user(con, "bob", "viewer", PASSWORD)
    hashes = [h for (h,) in con.sql("SELECT password_hash FROM app_users ORDER BY username").fetchall()]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert hashes[0] != hashes[1], "the same password gives different hashes (salted)"
    dump = " ".join(str(v) for row in con.sql("SELECT * FROM app_users").fetchall() for v in row)
    assert PASSWORD not in dump
    assert "password_hash" not in access.users(con).columns
    with pytest.raises(access.AccessError, match="at least 10"):
        access.add_user(con, "cy", "viewer", "short")
    with pytest.raises(access.AccessError, match="unknown role"):
        access.add_user(con, "cy", "owner", PASSWORD)
    con.close()


def test_sign_in_checks_the_password_says_nothing_about_which_part_was_wrong_and_locks_after_failures(tmp_path):
    con = connect(users_db(tmp_path))
    session = access.sign_in(con, "analyst", PASSWORD)
    assert session.actor == access.Actor("analyst", "analyst")
    with pytest.raises(access.AccessDenied) as wrong_password:
        access.sign_in(con, "analyst", "not the password")
    with pytest.raises(access.AccessDenied) as wrong_name:
        access.sign_in(con, "nobody", PASSWORD)
    assert str(wrong_password.value) == str(wrong_name.value)
    for _ in range(access.MAX_FAILED_SIGN_INS - 1):
        with pytest.raises(access.AccessDenied):
            access.sign_in(con, "analyst", "guess")
    with pytest.raises(access.AccessDenied, match="too many failed sign-ins"):
        access.sign_in(con, "analyst", PASSWORD)  # locked even with the right password
    later = datetime.now(UTC) + access.FAILED_SIGN_IN_WINDOW + timedelta(minutes=1)
    assert access.sign_in(con, "analyst", PASSWORD, now=later).actor.role == "analyst"
    access.disable_user(con, "viewer")
    with pytest.raises(access.AccessDenied):
        access.sign_in(con, "viewer", PASSWORD)
    actions = [a for (a,) in con.sql("SELECT action FROM audit_log WHERE actor = 'analyst'").fetchall()]
    assert actions.count("sign_in") == 2 and actions.count("sign_in_failed") >= access.MAX_FAILED_SIGN_INS
    con.close()


def test_sessions_expire_when_idle_or_old_and_follow_role_changes(tmp_path, monkeypatch):
    monkeypatch.setenv(access.IDLE_ENV, "30")
    monkeypatch.setenv(access.LIFETIME_ENV, "8")
    con = connect(users_db(tmp_path))
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    session = access.sign_in(con, "manager", PASSWORD, now=start)
    assert access.renewed(con, session, start + timedelta(minutes=29)) is not None
    assert access.renewed(con, session, start + timedelta(minutes=31)) is None, "idle for over 30 minutes"
    kept = session
    for minutes in range(20, 8 * 60, 20):  # in use all day: still ends after 8 hours
        kept = access.renewed(con, kept, start + timedelta(minutes=minutes))
        assert kept is not None
    assert access.renewed(con, kept, start + timedelta(hours=8, minutes=10)) is None
    access.set_role(con, "manager", "viewer", {"team": ["Billing"]})
    now = datetime.now(UTC)
    renewed = access.renewed(con, access.Session(session.actor, now, now), now)
    assert renewed.actor == access.Actor("manager", "viewer", (("team", ("Billing",)),))
    access.disable_user(con, "manager")
    assert access.renewed(con, renewed, now) is None
    con.close()


def test_identity_provider_users_map_onto_roles_here(tmp_path):
    con = connect(tmp_path / "o.duckdb")
    access.add_user(con, "lead@example.com", "manager", None, {"team": ["Billing"]})
    session = access.identity_session(con, "Lead@Example.com")
    assert session.actor == access.Actor("lead@example.com", "manager", (("team", ("Billing",)),))
    with pytest.raises(access.AccessDenied, match="has no role"):
        access.identity_session(con, "stranger@example.com")
    with pytest.raises(access.AccessDenied):
        access.sign_in(con, "lead@example.com", "")  # no password: only the identity provider signs them in
    con.close()


def test_segment_restriction_narrows_every_filter_and_the_crisis_list():
    lead = access.Actor("lead", "manager", (("team", ("Billing",)),))
    assert access.restrict((), lead) == (("team", ("Billing",)),)
    assert access.restrict((("team", ("Billing", "Technical")),), lead) == (("team", ("Billing",)),)
    assert access.restrict((("team", ("Technical",)),), lead) == (("team", ("Billing",)),)
    assert access.restrict((("channel", ("email",)),), lead) == (("channel", ("email",)), ("team", ("Billing",)))
    crises = pl.DataFrame({"id": [1, 2, 3], "where": ["team Billing", "team Technical", "channel email"]})
    assert access.visible_crises(crises, lead)["id"].to_list() == [1]
    assert access.visible_crises(crises, access.Actor("boss", "admin"))["id"].to_list() == [1, 2, 3]
    assert access.may_see(lead, "team", "Billing") and not access.may_see(lead, "team", "Technical")
    assert not access.may_see(lead, "channel", "email")


def signed_in_app(db: Path, monkeypatch, page: str | None = None, who: str | None = None) -> AppTest:
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    monkeypatch.setenv(access.AUTH_ENV, "password")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    if who:
        app.text_input(key="sign_in_name").set_value(who)
        app.text_input(key="sign_in_password").set_value(PASSWORD)
        app.button[0].click()
        app.run()
    if page:
        app.switch_page(f"pages/{page}.py")
        app.run()
    assert not app.exception, app.exception
    return app


def test_with_sign_in_on_nothing_shows_before_sign_in_and_each_role_sees_its_own_controls(tmp_path, monkeypatch):
    db = users_db(tmp_path)
    app = signed_in_app(db, monkeypatch)
    assert [i.label for i in app.text_input] == ["Name", "Password"]
    assert not app.title or app.title[0].value == "CSAT Radar"
    assert not app.metric, "no KPI is shown before sign-in"

    overview = signed_in_app(db, monkeypatch, who="viewer")
    assert "Signed in as **viewer** (viewer)" in " ".join(c.value for c in overview.sidebar.caption)
    viewer = signed_in_app(db, monkeypatch, "upload", who="viewer")
    assert any("loading and undoing are for analysts" in i.value for i in viewer.info)
    assert not viewer.get("file_uploader"), "a viewer is offered no upload"
    assert not [b for b in viewer.button if b.label == "Undo batch"]

    analyst = signed_in_app(db, monkeypatch, "upload", who="analyst")
    assert analyst.get("file_uploader")
    assert [b for b in analyst.button if b.label == "Undo batch"]

    wrong = signed_in_app(db, monkeypatch)
    wrong.text_input(key="sign_in_name").set_value("admin")
    wrong.text_input(key="sign_in_password").set_value("nope")
    wrong.button[0].click()
    wrong.run()
    assert [e.value for e in wrong.error] == ["wrong name or password, or the account is disabled"]


def test_the_admin_page_is_for_admins_and_shows_users_and_the_audit_log(tmp_path, monkeypatch):
    db = users_db(tmp_path)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        signed_in_app(db, monkeypatch, "admin", who="manager")  # not in a manager's navigation
    # Run on its own, as a forged request would, the page first runs the app's gate and navigation
    # (pages/_frame/entry.py), which offers a manager no admin page: the overview is shown instead.
    con = connect(db)
    manager_session = access.sign_in(con, "manager", PASSWORD)
    con.close()
    direct = AppTest.from_file(str(ROOT / "pages" / "admin.py"), default_timeout=60)
    direct.session_state["session"] = manager_session
    direct.run()
    assert not direct.exception, direct.exception
    assert [title.value for title in direct.title] == ["Overview"]
    assert not any("User" in d.value.columns for d in direct.dataframe)

    admin = signed_in_app(db, monkeypatch, "admin", who="admin")
    users, targets, audit = (d.value for d in admin.dataframe)
    assert "CSAT" in targets["KPI"].to_list()
    from metrics.kpis.formats import format_target
    from metrics.kpis.settings import load_settings

    csat = load_settings().target_for("csat")
    # A target as people read it ("≥ 90.0%"), not the settings' fraction (0.9).
    assert dict(zip(targets["KPI"], targets["Target"], strict=True))["CSAT"] == format_target(
        csat.bound, csat.value, "percent"
    )
    assert sorted(users["User"]) == ["admin", "analyst", "lead", "manager", "viewer"]
    assert "password_hash" not in users.columns
    assert {"sign in", "upload"} <= set(audit["Action"])  # the action worded
    add_user_on_admin_page(admin, "newcomer", "analyst", "a long enough secret", "team=Billing")
    assert not admin.exception, admin.exception
    con = connect(db)
    assert con.sql("SELECT role, segments::VARCHAR FROM app_users WHERE username = 'newcomer'").fetchall() == [
        ("analyst", '{"team": ["Billing"]}')
    ]
    assert con.sql("SELECT actor, outcome FROM audit_log WHERE action = 'add_user'").fetchall() == [("admin", "done")]
    con.close()


def test_a_team_lead_sees_only_their_team(tmp_path, monkeypatch):
    db = users_db(tmp_path)
    lead = signed_in_app(db, monkeypatch, who="lead")
    team_filter = next(m for m in lead.sidebar.multiselect if m.label == "Team")
    assert team_filter.options == ["Billing"]
    assert "limited to team: Billing" in " ".join(c.value for c in lead.sidebar.caption)
    everyone = signed_in_app(db, monkeypatch, who="manager")
    assert len(next(m for m in everyone.sidebar.multiselect if m.label == "Team").options) > 1

    # The numbers are the team's: of the three tickets only Technical's is open, so the
    # organisation's backlog is 1 and Billing's is 0, whatever the lead asks for.
    def backlog(app) -> str:
        return next(m.value for m in app.metric if m.label == "Open tickets (backlog)")

    assert backlog(signed_in_app(db, monkeypatch, "service_levels", who="manager")) == "1"
    assert backlog(signed_in_app(db, monkeypatch, "service_levels", who="lead")) == "0"
    lead_asking = signed_in_app(db, monkeypatch, who="lead")
    lead_asking.session_state["filter_team"] = ["Technical"]  # as a shared link would ask
    lead_asking.run()
    lead_asking.switch_page("pages/service_levels.py")
    lead_asking.run()
    assert not lead_asking.exception, lead_asking.exception
    assert backlog(lead_asking) == "0"


def test_the_command_line_manages_users_and_its_loads_are_audited(tmp_path):
    db = tmp_path / "cli.duckdb"
    added = run_cli("users", "add", "ann", "--role", "analyst", "--segment", "team=Billing", "--password-stdin",
                    "--db", str(db), input=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    refused = run_cli("users", "add", "bob", "--role", "owner", "--password-stdin", "--db", str(db), input="x\n")
    assert refused.returncode == 2 and "invalid choice" in refused.stderr
    weak = run_cli("users", "add", "bob", "--role", "viewer", "--password-stdin", "--db", str(db), input="x\n")
    assert weak.returncode == 2 and weak.stderr.strip() == "csat-radar: a password needs at least 10 characters"
    loaded = run_cli("ingest", str(FIXTURES / "profiles" / "generic.csv"), "--kind", "tickets", "--db", str(db))
    assert loaded.returncode == 0, loaded.stderr
    log = run_cli("audit", "--csv", "--db", str(db))
    entries = pl.read_csv(log.stdout.encode())
    assert entries.filter(pl.col("action") == "upload")["outcome"].to_list() == ["done"]
    added_users = entries.filter(pl.col("action") == "add_user").sort("audit_id")
    assert added_users.select("target", "outcome").rows() == [("ann", "done"), ("bob", "failed")]
    assert entries["actor"].str.starts_with("local:").all()
    con = duckdb.connect(str(db), read_only=True)
    assert con.sql("SELECT role FROM app_users WHERE username = 'ann'").fetchall() == [("analyst",)]
    con.close()


PERSONAL = """ticket_id,created_at,channel,customer_id,Customer Name,Phone,subject
T-1,2026-03-02 09:00,email,ann.lee@example.com,Ann Lee,+44 20 7946 0958,call me on 13812345678 please
T-2,2026-03-02 10:00,phone,ann.lee@example.com,Ann Lee,+44 20 7946 0958,second contact
T-3,2026-03-02 11:00,chat,zhang.wei@example.cn,张伟,13912345678,mail me at zhang.wei@example.cn
T-4,not a date,chat,zhang.wei@example.cn,张伟,13912345678,rejected row with 13912345678
"""


def test_personal_data_is_masked_on_screen_and_in_downloads():
    frame = pl.DataFrame(
        {
            "ticket_id": ["T-1"],
            "customer_name": ["Ann Lee"],
            "subject": ["call +44 20 7946 0958 or ann.lee@example.com on 2026-03-02 10:00"],
            "raw_record": ['{"Customer Name":"Ann Lee","Phone":"+44 20 7946 0958","ticket_id":"T-1"}'],
        }
    )
    shown = mask(frame)
    assert shown.row(0) == (
        "T-1",
        "A***",
        "call ***58 or a***@example.com on 2026-03-02 10:00",
        '{"Customer Name":"***","Phone":"***","ticket_id":"T-1"}',
    )
    assert frame["customer_name"][0] == "Ann Lee", "the input frame is not changed"
    download = csv_bytes(shown).decode("utf-8-sig")
    assert "Ann Lee" not in download and "7946" not in download and "ann.lee" not in download


def test_a_record_not_as_wide_as_its_header_is_masked_field_by_field():
    """Nothing says which field of such a record is the name: every field that may be one is masked."""
    record = '["T-6", "2026-03-02 13:00", "5", "张伟", "zhang.wei@example.cn", "13912345678", ""]'
    rejected = pl.DataFrame(
        {
            "line_number": [6],
            "reason": ["record has 7 fields, the header has 6"],
            "column_name": [None],
            "record": [record],
        },
        schema_overrides={"column_name": pl.String},
    )
    shown = mask(rejected)
    assert shown.drop("record").equals(rejected.drop("record"))
    assert json.loads(shown["record"][0]) == ["T***", "2026-03-02 13:00", "5", "张***", "z***", "1***", ""]
    assert rejected["record"][0] == record, "the input frame is not changed"


def test_personal_data_can_be_hashed_at_ingest_so_the_warehouse_never_holds_it(tmp_path, monkeypatch):
    source = write(tmp_path / "personal.csv", PERSONAL)
    monkeypatch.setenv("CSAT_RADAR_HASH_PERSONAL_DATA", "1")
    monkeypatch.delenv("CSAT_RADAR_PERSONAL_DATA_SALT", raising=False)
    con = connect(tmp_path / "hashed.duckdb")
    with pytest.raises(Exception, match="personal.csv: CSAT_RADAR_HASH_PERSONAL_DATA is on: set"):
        ingest_file(con, source, "tickets", source_tz="UTC")
    assert table_counts(con)["tickets"] == 0
    monkeypatch.setenv("CSAT_RADAR_PERSONAL_DATA_SALT", "a secret of this warehouse")
    result = ingest_file(con, source, "tickets", source_tz="UTC")
    assert (result.rows_loaded, result.rows_rejected) == (3, 1)
    stored = " ".join(
        str(v)
        for table in ("tickets", "rejected_rows")
        for row in con.sql(f"SELECT * FROM {table}").fetchall()
        for v in row
    )
    for personal in (
        "ann.lee",
        "Ann Lee",
        "20 7946 0958",
        "79460958",
        "13812345678",
        "13912345678",
        "张伟",
        "zhang.wei",
    ):
        assert personal not in stored, personal
    customers = con.sql("SELECT ticket_id, customer_id FROM tickets ORDER BY ticket_id").fetchall()
    assert customers[0][1] == customers[1][1] != customers[2][1], "one customer's tickets still group together"
    assert all(c.startswith("h:") for _, c in customers)
    con.close()


def stored_text(con: duckdb.DuckDBPyConnection) -> str:
    """Every value in every table of the warehouse, as one text."""
    tables = [t for (t,) in con.sql("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()]
    return " ".join(str(v) for table in tables for row in con.sql(f'SELECT * FROM "{table}"').fetchall() for v in row)


# Lines 6 to 8 after PERSONAL, not as wide as its header: a comma in the subject, fields missing,
# a name shifted into another field's place.
NOT_AS_WIDE = """T-5,2026-03-02 12:00,chat,bob.stone@example.org,Bob Stone,+1 415 555 0199,cut off, twice
T-6,2026-03-02 13:00,email,ann.lee@example.com,Ann Lee
T-7,2026-03-02 14:00,Bob Stone,+1 415 555 0199
"""


@pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
def test_records_not_as_wide_as_the_header_are_hashed_field_by_field_at_ingest(tmp_path, monkeypatch, large):
    if large:  # read in parts of two records, as a file too large to read whole is
        from pipelines.read import stream as readers

        monkeypatch.setattr(readers, "STREAM_BYTES", 0)
        monkeypatch.setattr(readers, "STREAM_ROWS", 2)
    source = write(tmp_path / "broken.csv", PERSONAL + NOT_AS_WIDE)
    monkeypatch.setenv("CSAT_RADAR_HASH_PERSONAL_DATA", "1")
    monkeypatch.setenv("CSAT_RADAR_PERSONAL_DATA_SALT", "a secret of this warehouse")
    con = connect(tmp_path / "hashed.duckdb")
    result = ingest_file(con, source, "tickets", source_tz="UTC")
    assert (result.rows_loaded, result.rows_rejected) == (3, 4)
    stored = stored_text(con)
    for personal in (
        "Bob Stone",
        "bob.stone",
        "415 555",
        "Ann Lee",
        "ann.lee",
        "20 7946 0958",
        "79460958",
        "张伟",
        "zhang.wei",
    ):
        assert personal not in stored, personal
    records = dict(con.sql("SELECT line_number, raw_record::VARCHAR FROM rejected_rows").fetchall())
    cut_off, short = json.loads(records[6]), json.loads(records[7])
    assert cut_off[1] == "2026-03-02 12:00" and short[1] == "2026-03-02 13:00", "a time is not personal"
    ann = con.sql("SELECT customer_id FROM tickets WHERE ticket_id = 'T-1'").fetchall()[0][0]
    assert short[3] == ann, "a customer's hash in a broken record is the one on their good rows"
    con.close()


def test_uploaded_file_names_never_become_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outside = tmp_path / "outside.csv"
    outside.write_text("must stay as it is")
    con = connect(tmp_path / "names.duckdb")
    data = (FIXTURES / "profiles" / "generic.csv").read_bytes()
    for name in ("../../escape.csv", str(outside), "/etc/passwd"):
        result = ingest_file(con, data, "tickets", file_name=name, source_tz="UTC")
        assert result.file == name
    assert outside.read_text() == "must stay as it is", "a name that is a path is not read or written"
    assert not (tmp_path.parent.parent / "escape.csv").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("names.duckdb")) == ["outside.csv"]
    con.close()


def test_an_admin_changes_a_target_the_file_keeps_its_comments_and_the_change_is_audited(tmp_path, monkeypatch):
    from metrics.kpis.settings import DEFAULT_FILE, SettingsError, load_settings, set_target

    targets = tmp_path / "targets.toml"
    targets.write_text(DEFAULT_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("CSAT_RADAR_TARGETS", str(targets))
    db = users_db(tmp_path)
    admin = signed_in_app(db, monkeypatch, "admin", who="admin")
    form = next(f for f in admin.get("form") if f.number_input)
    form.selectbox[0].set_value("csat")
    form.number_input[0].set_value(0.85)
    form.button[0].click()
    admin.run()
    assert not admin.exception, admin.exception
    assert any(s.value.startswith("csat: min 0.9 → min 0.85") for s in admin.success)
    assert load_settings().target_for("csat").value == 0.85
    text = targets.read_text(encoding="utf-8")
    assert "csat = { min = 0.85 }" in text and "# Per-segment overrides" in text, "comments and the rest are kept"
    con = connect(db)
    assert con.sql(
        "SELECT actor, outcome, target, detail->>'old', detail->>'new' FROM audit_log WHERE action = 'set_target'"
    ).fetchall() == [("admin", "done", "csat", "min 0.9", "min 0.85")]
    con.close()
    before = targets.read_bytes()
    with pytest.raises(SettingsError, match="give its target as a fraction"):
        set_target("csat", "min", 90)
    with pytest.raises(SettingsError, match="not a KPI"):
        set_target("happiness", "min", 0.5)
    assert targets.read_bytes() == before, "a refused change leaves the file as it was"
