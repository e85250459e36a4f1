"""Crisis events told once per destination, to a real SMTP server and a real webhook endpoint on this machine.

Scans are recorded with the real ``record_scan`` on a real warehouse file; the ``escalated``
action (the lifecycle's) is written as its row, as the crisis log contract describes it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from metrics.crises.log import get_crisis, record_scan
from metrics.crises.model import DetectedCrisis
from metrics.notify.config import load_config
from metrics.notify.outbox import NotifyRun, outbox
from tests.notify.receivers import HTTPReceiver, SMTPReceiver, free_port

WEEK0 = date(2026, 3, 2)  # a Monday
LINK = "http://radar.test:8501/crisis_radar?crisis="
PASSWORD_ENV = "CSAT_RADAR_TEST_SMTP_PASSWORD"


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
    """Each test reads only what it sent; the SMTP password is in the environment, never in the file."""
    smtp.mails.clear()
    hooks.calls.clear()
    hooks.secrets.clear()
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")


def scanned(n: int) -> datetime:
    """The scan made once week n is complete."""
    return datetime(2026, 3, 9, 9, tzinfo=UTC) + timedelta(weeks=n)


def signal(severity: str, start: int = 0, last: int = 0, segment: str = "phone", ongoing: bool = True):
    return DetectedCrisis(
        metric="csat",
        dimension="channel",
        segment=segment,
        type="customer_satisfaction",
        type_reason="sustained drift",
        severity=severity,
        severity_reason=f"CSAT 71% against a target of 90% in {segment}, 412 answers",
        grain="week",
        start=WEEK0 + timedelta(weeks=start),
        last_flagged=WEEK0 + timedelta(weeks=last),
        ongoing=ongoing,
    )


def config_file(tmp_path, smtp_port: int, hook_url: str, extra: str = "", min_severity: str = "major"):
    path = tmp_path / "notifications.toml"
    path.write_text(
        f"""
[notify]
min_severity = "{min_severity}"
dashboard_url = "http://radar.test:8501/"
timeout_seconds = 3
{extra}

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
    return load_config(path)


def scan_and_notify(con, config, found: list[DetectedCrisis], at: datetime) -> NotifyRun:
    """What ``refresh_crisis_log`` does around a scan: destinations first, the scan recorded, then deliveries."""
    run = NotifyRun(config)
    run.start(con)
    record_scan(con, found, at, recovery_periods_needed=2, grain="week")
    run.deliver(con, at)
    return run


def told(con, crisis_id: int) -> list[dict]:
    return [e for e in get_crisis(con, crisis_id)["events"] if e["action"] == "notified"]


def test_a_scan_that_raises_a_major_crisis_sends_one_mail_and_one_webhook_call_then_none(con, tmp_path, smtp, hooks):
    config = config_file(tmp_path, smtp.port, hooks.url("/hook"))

    run = scan_and_notify(con, config, [signal("major")], scanned(0))

    assert run.summary() == "2 notifications sent"
    assert len(smtp.mails) == 1 and len(hooks.calls) == 1
    mail = smtp.mails[0]
    assert mail.recipients == ["ops@example.com"] and mail.user == "radar"
    assert mail.message["Subject"] == "[CSAT Radar] New major crisis #1: customer satisfaction in channel phone"
    body = mail.message.get_content()
    for fact in (
        "Severity: major: CSAT 71% against a target of 90% in phone, 412 answers",
        "Type: customer satisfaction",
        "Where: channel phone",
        "Metric: CSAT",
        "Since: 2026-03-02, last flagged 2026-03-02 (week grain)",
        f"Open crisis #1: {LINK}1",
    ):
        assert fact in body
    call = hooks.calls[0]
    assert call.body["link"] == f"{LINK}1"
    assert call.body["event"]["action"] == "detected" and call.body["event"]["severity"] == "major"
    assert call.body["event"]["segment"] == "phone" and call.body["title"] == mail.message["Subject"][13:]
    # The crisis's history says who was told.
    notes = sorted(e["note"] for e in told(con, 1))
    assert notes == ["e-mail to ops@example.com", "webhook json 127.0.0.1"]

    # The next scan finds the same crisis still flagged: nothing is told again.
    again = scan_and_notify(con, config, [signal("major", 0, 1)], scanned(1))
    assert again.deliveries == [] and len(smtp.mails) == 1 and len(hooks.calls) == 1
    assert len(told(con, 1)) == 2


def test_a_minor_crisis_is_not_told_until_it_worsens_and_its_recovery_is_told(con, tmp_path, smtp, hooks):
    config = config_file(tmp_path, smtp.port, hooks.url("/hook"))
    scan_and_notify(con, config, [signal("minor")], scanned(0))
    assert smtp.mails == [] and hooks.calls == []

    scan_and_notify(con, config, [signal("major", 0, 1)], scanned(1))
    assert [m.message["Subject"] for m in smtp.mails] == [
        "[CSAT Radar] Crisis #1 worsened to major: customer satisfaction in channel phone"
    ]
    assert "Was: minor" in smtp.mails[0].message.get_content()
    assert hooks.calls[0].body["event"]["from_value"] == "minor"

    # Quiet for two weeks: recovery is proposed, and told, since the crisis was major.
    scan_and_notify(con, config, [], scanned(2))
    scan_and_notify(con, config, [], scanned(3))
    subjects = [m.message["Subject"] for m in smtp.mails]
    assert subjects[1:] == [
        "[CSAT Radar] Crisis #1 back inside its limits, awaiting confirmation: customer satisfaction in channel phone"
    ]
    assert "What happened: back inside limits for 2 week periods" in smtp.mails[1].message.get_content()
    assert len(hooks.calls) == 2


def test_a_minor_crisis_that_recovers_is_not_told(con, tmp_path, smtp, hooks):
    config = config_file(tmp_path, smtp.port, hooks.url("/hook"))
    for week, found in enumerate(([signal("minor")], [], [], [])):
        scan_and_notify(con, config, found, scanned(week))
    assert get_crisis(con, 1)["recovery_proposed_at"] is not None
    assert smtp.mails == [] and hooks.calls == []


def test_an_escalation_is_told_at_its_severity(con, tmp_path, smtp, hooks):
    config = config_file(tmp_path, smtp.port, hooks.url("/hook"), min_severity="critical")
    scan_and_notify(con, config, [signal("major")], scanned(0))
    assert smtp.mails == []
    # The lifecycle's escalation, as the crisis log contract writes it: not acknowledged in time.
    con.execute(
        "INSERT INTO crisis_events VALUES (nextval('crisis_event_id_seq'), 1, ?, 'radar', 'escalated', 'major', "
        "'critical', 'not acknowledged within 2 days of detection')",
        [scanned(0) + timedelta(days=2)],
    )
    NotifyRun(config).deliver(con, scanned(0) + timedelta(days=2))

    assert [m.message["Subject"] for m in smtp.mails] == [
        "[CSAT Radar] Crisis #1 escalated (critical): not acknowledged in time: customer satisfaction in channel phone"
    ]
    assert "What happened: not acknowledged within 2 days of detection" in smtp.mails[0].message.get_content()
    assert hooks.calls[0].body["event"]["action"] == "escalated"


def test_the_history_before_notifications_were_configured_is_not_told(con, tmp_path, smtp, hooks):
    # A load's history scan logged a critical crisis before anyone configured notifications.
    record_scan(con, [signal("critical", segment="email")], scanned(0), grain="week")
    config = config_file(tmp_path, smtp.port, hooks.url("/hook"))

    # The first notifying scan: the new crisis is told, the one logged before is not.
    scan_and_notify(con, config, [signal("critical", segment="email"), signal("major", segment="chat")], scanned(0))
    assert [m.message["Subject"] for m in smtp.mails] == [
        "[CSAT Radar] New major crisis #2: customer satisfaction in channel chat"
    ]

    # A history brought later: a crisis last flagged months before the scan is old news, never told.
    old = signal("critical", start=-30, last=-28, segment="web", ongoing=False)
    scan_and_notify(con, config, [old], scanned(1))
    assert len(smtp.mails) == 1 and len(hooks.calls) == 1


def test_a_receiver_that_is_down_is_recorded_and_retried_on_the_next_scan(con, tmp_path, smtp, hooks):
    down = config_file(tmp_path, free_port(), f"http://127.0.0.1:{free_port()}/hook")
    run = scan_and_notify(con, down, [signal("major")], scanned(0))

    assert [d.ok for d in run.deliveries] == [False, False]
    assert all("cannot reach 127.0.0.1" in d.error for d in run.deliveries)
    assert run.deliveries[0].line(down.max_attempts).endswith("(attempt 1 of 5; retried on the next scan)")
    assert {row["status"] for row in outbox(con)} == {"failed"}
    assert told(con, 1) == []

    # Back up: the next scan delivers what failed, once.
    up = config_file(tmp_path, smtp.port, hooks.url("/hook"))
    retried = scan_and_notify(con, up, [signal("major", 0, 1)], scanned(1))
    assert [d.ok for d in retried.deliveries] == [True, True]
    assert len(smtp.mails) == 1 and len(hooks.calls) == 1
    assert [(row["status"], row["attempts"], row["last_error"]) for row in outbox(con)] == [("sent", 2, None)] * 2


def test_a_delivery_that_keeps_failing_is_given_up_and_said_in_the_history(con, tmp_path, hooks):
    down = config_file(tmp_path, free_port(), hooks.url("/gone"), extra="max_attempts = 2")
    hooks.statuses["/gone"] = 404
    scan_and_notify(con, down, [signal("major")], scanned(0))
    last = scan_and_notify(con, down, [signal("major", 0, 1)], scanned(1))
    assert [d.gave_up for d in last.deliveries] == [True, True]
    assert "HTTP 404" in last.deliveries[1].error

    third = scan_and_notify(con, down, [signal("major", 0, 2)], scanned(2))
    assert third.deliveries == []  # given up: not tried again
    notes = sorted(e["note"] for e in told(con, 1))
    assert notes[0].startswith("e-mail to ops@example.com: not delivered after 2 attempts: cannot reach")
    assert notes[1].startswith("webhook json 127.0.0.1: not delivered after 2 attempts: HTTP 404")
    del hooks.statuses["/gone"]


def test_a_chinese_segment_reads_as_written_in_the_mail(con, tmp_path, smtp, hooks):
    config = config_file(tmp_path, smtp.port, hooks.url("/hook"))
    scan_and_notify(con, config, [signal("critical", segment="华东 电话客服")], scanned(0))

    subject = "[CSAT Radar] New critical crisis #1: customer satisfaction in channel 华东 电话客服"
    assert [m.message["Subject"] for m in smtp.mails] == [subject]
    assert "Where: channel 华东 电话客服" in smtp.mails[0].message.get_content()
    assert hooks.calls[0].body["event"]["segment"] == "华东 电话客服"
