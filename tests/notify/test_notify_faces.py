"""The faces that notify: ``crises --notify`` for a scheduler, ``notify test``, and the Crisis radar's "Scan now".

A real warehouse is loaded through ``csat-radar ingest`` with 12 weeks of survey answers whose last
two weeks dip (a critical crisis the scan raises); the e-mail and webhook receivers run on this
machine, on threads this module starts and stops.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from metrics.crises.log import get_crisis
from metrics.kpis.settings import load_settings
from metrics.notify.config import load_config
from metrics.notify.outbox import NotifyRun
from metrics.views.dashboard import refresh_crisis_log
from pipelines.signin import access
from pipelines.warehouse.store import connect
from tests.conftest import ROOT, run_cli
from tests.notify.receivers import HTTPReceiver, SMTPReceiver, free_port

END = date(2026, 9, 27)  # a Sunday: the data's last week is whole
PASSWORD_ENV = "CSAT_RADAR_TEST_SMTP_PASSWORD"
SUBJECT = "New critical crisis #1: customer satisfaction in the whole organisation"


def answers_with_a_final_dip(path: Path) -> Path:
    """12 weeks of answers 1-5, 88% satisfied, 45% in the last 14 days; seeded, so the same file every run."""
    rng = np.random.default_rng(20)
    days = pl.date_range(END - timedelta(days=84), END, "1d", eager=True)
    frame = pl.DataFrame({"day": np.repeat(days.to_numpy(), 40)}).with_columns(pl.col("day").cast(pl.Date))
    n = frame.height
    dip = pl.col("day") > END - timedelta(days=14)
    satisfied = frame.select(pl.Series(rng.random(n)) < pl.when(dip).then(0.45).otherwise(0.88)).to_series()
    stars = np.where(satisfied.to_numpy(), rng.integers(4, 6, n), rng.integers(1, 4, n))
    frame.select(
        (pl.lit("ANS-") + pl.int_range(pl.len()).cast(pl.String)).alias("Answer Ref"),
        (pl.col("day").cast(pl.Datetime) + pl.duration(minutes=pl.Series(rng.integers(480, 1200, n))))
        .dt.strftime("%Y-%m-%d %H:%M")
        .alias("Answered"),
        pl.Series("Stars", stars),
    ).write_csv(path)
    return path


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("notify")
    db = folder / "loaded.duckdb"
    done = run_cli("ingest", str(answers_with_a_final_dip(folder / "answers.csv")), "--kind", "surveys", "--tz", "UTC",
                   "--db", str(db))  # fmt: skip
    assert done.returncode == 0, done.stderr
    return db


@pytest.fixture
def db(loaded, tmp_path) -> Path:
    """A private copy: each test scans, and so writes to the crisis log, on its own."""
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(loaded, copy)
    return copy


@pytest.fixture(scope="module")
def smtp():
    with SMTPReceiver(credentials=("radar", "s3cret")) as server:
        yield server


@pytest.fixture(scope="module")
def hooks():
    with HTTPReceiver() as server:
        yield server


@pytest.fixture(autouse=True)
def empty_receivers(smtp, hooks, monkeypatch):
    smtp.mails.clear()
    hooks.calls.clear()
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")


def notifications(folder: Path, smtp_port: int, hook_url: str) -> Path:
    path = folder / "notifications.toml"
    path.write_text(
        f"""[notify]
min_severity = "major"
dashboard_url = "http://radar.test:8501"
timeout_seconds = 3

[[notify.email]]
smtp_host = "127.0.0.1"
port = {smtp_port}
starttls = false
username = "radar"
password_env = "{PASSWORD_ENV}"
from = "radar@example.com"
to = ["ops@example.com"]

[[notify.webhook]]
kind = "json"
url = "{hook_url}"
""",
        encoding="utf-8",
    )
    return path


def scan(db: Path, config: Path, *extra: str):
    return run_cli("crises", "--db", str(db), "--notify-config", str(config), *extra,
                   env={PASSWORD_ENV: "s3cret"}, timeout=120)  # fmt: skip


def test_crises_notify_sends_one_mail_and_one_webhook_call_then_none(db, tmp_path, smtp, hooks):
    config = notifications(tmp_path, smtp.port, hooks.url("/hook"))

    first = scan(db, config)
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    assert f"sent      e-mail to ops@example.com: {SUBJECT}" in first.stdout
    assert f"sent      webhook json 127.0.0.1: {SUBJECT}" in first.stdout
    assert first.stdout.rstrip().endswith("notifications: 2 notifications sent")
    assert [m.message["Subject"] for m in smtp.mails] == [f"[CSAT Radar] {SUBJECT}"]
    assert "Open crisis #1: http://radar.test:8501/crisis_radar?crisis=1" in smtp.mails[0].message.get_content()
    assert [c.body["event"]["crisis_id"] for c in hooks.calls] == [1]

    second = scan(db, config)
    assert second.returncode == 0, second.stderr
    assert second.stdout.rstrip().endswith("notifications: 0 notifications sent")
    assert len(smtp.mails) == 1 and len(hooks.calls) == 1

    con = duckdb.connect(str(db), read_only=True)
    told = [
        (e["from_value"], e["to_value"], e["note"]) for e in get_crisis(con, 1)["events"] if e["action"] == "notified"
    ]
    con.close()
    assert sorted(told) == [
        ("detected", "sent", "e-mail to ops@example.com"),
        ("detected", "sent", "webhook json 127.0.0.1"),
    ]


def test_crises_notify_with_a_receiver_down_says_so_in_a_line_and_keeps_its_answer(db, tmp_path, hooks):
    config = notifications(tmp_path, free_port(), hooks.url("/hook"))
    done = scan(db, config, "--json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert any(
        line.startswith(f"failed    e-mail to ops@example.com: {SUBJECT}: cannot reach 127.0.0.1:")
        and line.endswith("(attempt 1 of 5; retried on the next scan)")
        for line in lines
    ), lines
    assert lines[-1] == "notifications: 1 notification sent, 1 failed (retried on the next scan)"
    assert done.stdout.lstrip().startswith("[")  # stdout stays the JSON a program parses
    assert len(hooks.calls) == 1


def test_notify_test_reaches_every_destination_found_beside_the_targets(tmp_path, smtp, hooks):
    targets = tmp_path / "targets.toml"
    targets.write_text("[targets]\ncsat = { min = 0.9 }\n", encoding="utf-8")
    notifications(tmp_path, smtp.port, hooks.url("/hook"))

    done = run_cli("notify", "test", "--targets", str(targets), env={PASSWORD_ENV: "s3cret"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "sent      e-mail to ops@example.com: CSAT Radar test message",
        "sent      webhook json 127.0.0.1: CSAT Radar test message",
    ]
    assert [m.message["Subject"] for m in smtp.mails] == ["[CSAT Radar] CSAT Radar test message"]
    assert hooks.calls[0].body["event"] == {"action": "test", "destination": "webhook json 127.0.0.1"}

    # A destination that is down: its own line, and an exit code a scheduler sees.
    down = notifications(tmp_path, smtp.port, f"http://127.0.0.1:{free_port()}/hook")
    failed = run_cli("notify", "test", "--notify-config", str(down), env={PASSWORD_ENV: "s3cret"})
    assert failed.returncode == 1
    assert failed.stdout.splitlines()[1].startswith(
        "failed    webhook json 127.0.0.1: CSAT Radar test message: cannot reach 127.0.0.1: Connection refused"
    )


def test_scan_now_on_the_crisis_radar_notifies_once_and_the_history_shows_it(db, tmp_path, smtp, hooks, monkeypatch):
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    monkeypatch.setenv("CSAT_RADAR_NOTIFY", str(notifications(tmp_path, smtp.port, hooks.url("/hook"))))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("pages/crisis_radar.py")
    app.run()
    next(b for b in app.button if b.label == "Scan now").click().run()
    assert not app.exception, app.exception

    assert [m.message["Subject"] for m in smtp.mails] == [f"[CSAT Radar] {SUBJECT}"]
    assert len(hooks.calls) == 1
    assert "Notifications sent: 2" in [toast.value for toast in app.toast]
    history = next(frame.value for frame in app.dataframe if "Action" in frame.value.columns)
    notified = history[history["Action"] == "notified"]
    assert sorted(notified["Note"]) == ["e-mail to ops@example.com", "webhook json 127.0.0.1"]

    next(b for b in app.button if b.label == "Scan now").click().run()
    assert not app.exception, app.exception
    assert len(smtp.mails) == 1 and len(hooks.calls) == 1


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_only_a_role_that_may_scan_can_notify(db, tmp_path, smtp, hooks, role):
    run = NotifyRun(load_config(notifications(tmp_path, smtp.port, hooks.url("/hook"))))
    con = connect(db)
    try:
        with pytest.raises(access.AccessDenied):
            access.perform(con, access.Actor(f"someone {role}", role), "scan", refresh_crisis_log, load_settings(),
                           "week", notify=run)  # fmt: skip
        refused = con.sql("SELECT outcome FROM audit_log WHERE action = 'scan'").fetchall()
    finally:
        con.close()
    assert refused == [("refused",)]
    assert run.deliveries == [] and smtp.mails == [] and hooks.calls == []
