"""Each chat's webhook gets the payload its vendor documents, signed where the robot asks, at a real local endpoint."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from metrics.crises.log import record_scan
from metrics.crises.model import DetectedCrisis
from metrics.notify.config import load_config
from metrics.notify.outbox import NotifyRun, outbox
from tests.notify.receivers import HTTPReceiver, dingtalk_expected_sign

AT = datetime(2026, 3, 9, 9, tzinfo=UTC)
LINK = "http://radar.test/crisis_radar?crisis=1"
KINDS = ("slack", "teams", "dingtalk", "wecom", "feishu", "json")


@pytest.fixture(scope="module")
def hooks():
    with HTTPReceiver() as server:
        yield server


@pytest.fixture(autouse=True)
def fresh(hooks, monkeypatch):
    hooks.calls.clear()
    hooks.secrets.clear()
    monkeypatch.setenv("TEST_DINGTALK_SECRET", "SECdingtalk-test-secret")
    monkeypatch.setenv("TEST_FEISHU_SECRET", "feishu-test-secret")


def every_kind(tmp_path, hooks, dingtalk_secret_env: str = "TEST_DINGTALK_SECRET"):
    webhooks = "".join(
        f'\n[[notify.webhook]]\nkind = "{kind}"\nurl = "{hooks.url("/" + kind)}?access_token=abc"\n'
        + (f'secret_env = "{dingtalk_secret_env}"\n' if kind == "dingtalk" else "")
        + ('secret_env = "TEST_FEISHU_SECRET"\n' if kind == "feishu" else "")
        for kind in KINDS
    )
    path = tmp_path / "notifications.toml"
    path.write_text(f'[notify]\ndashboard_url = "http://radar.test"\n{webhooks}', encoding="utf-8")
    return load_config(path)


def raise_critical(con, config) -> NotifyRun:
    run = NotifyRun(config)
    run.start(con)
    crisis = DetectedCrisis(
        metric="complaint_rate",
        dimension="channel",
        segment="电话 <phone> & co",  # the data's own text, with what chat markup would read
        type="communication_failure",
        type_reason="complaints about wrong information",
        severity="critical",
        severity_reason="complaint rate 6.4% against a limit of 5%",
        grain="week",
        start=date(2026, 3, 2),
        last_flagged=date(2026, 3, 2),
        ongoing=True,
    )
    record_scan(con, [crisis], AT, grain="week")
    run.deliver(con, AT)
    return run


def test_each_vendor_gets_its_documented_payload_once(con, tmp_path, hooks):
    hooks.secrets["/dingtalk"] = "SECdingtalk-test-secret"
    hooks.secrets["/feishu"] = "feishu-test-secret"
    run = raise_critical(con, every_kind(tmp_path, hooks))

    assert [d.ok for d in run.deliveries] == [True] * 6, [d.error for d in run.deliveries]
    body = {kind: hooks.on("/" + kind)[0].body for kind in KINDS}
    assert all(len(hooks.on("/" + kind)) == 1 for kind in KINDS)
    title = "New critical crisis #1: communication failure in channel 电话 <phone> & co"

    slack = body["slack"]["text"]
    assert set(body["slack"]) == {"text"}
    assert slack.startswith("*New critical crisis #1: communication failure in channel 电话 &lt;phone&gt; &amp; co*")
    assert f"<{LINK}|Open crisis #1>" in slack and "*Metric:* Complaint rate" in slack

    teams = body["teams"]
    assert teams["type"] == "message"
    card = teams["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard" and card["content"]["body"][0]["text"] == title
    assert {"title": "Severity", "value": "critical: complaint rate 6.4% against a limit of 5%"} in card["content"][
        "body"
    ][1]["facts"]
    assert card["content"]["actions"] == [{"type": "Action.OpenUrl", "title": "Open crisis #1", "url": LINK}]

    dingtalk = body["dingtalk"]
    assert dingtalk["msgtype"] == "markdown" and dingtalk["markdown"]["title"] == title
    assert (
        dingtalk["markdown"]["text"].startswith(f"**{title}**")
        and f"[Open crisis #1]({LINK})" in dingtalk["markdown"]["text"]
    )
    query = hooks.on("/dingtalk")[0].query
    assert query["access_token"] == ["abc"]
    assert query["sign"] == [dingtalk_expected_sign("SECdingtalk-test-secret", query["timestamp"][0])]

    wecom = body["wecom"]
    assert wecom["msgtype"] == "markdown" and wecom["markdown"]["content"].startswith(f"**{title}**")

    feishu = body["feishu"]
    assert feishu["msg_type"] == "text" and feishu["content"]["text"].startswith(title)
    assert feishu["timestamp"].isdigit() and feishu["sign"]  # the receiver checked it: the delivery succeeded

    event = body["json"]["event"]
    assert body["json"]["link"] == LINK and event["severity"] == "critical" and event["segment"] == "电话 <phone> & co"
    assert event["metric"] == "complaint_rate" and event["start_period"] == "2026-03-02"


def test_a_robot_that_refuses_the_signature_is_a_recorded_failure(con, tmp_path, hooks, monkeypatch):
    hooks.secrets["/dingtalk"] = "the robot's real secret"
    run = raise_critical(con, every_kind(tmp_path, hooks))

    refused = [d for d in run.deliveries if not d.ok]
    assert [d.destination for d in refused] == ["webhook dingtalk 127.0.0.1"]
    assert refused[0].error == "127.0.0.1 refused the message: 310000 sign not match"
    statuses = {row["destination"]: row["status"] for row in outbox(con)}
    assert statuses["webhook dingtalk 127.0.0.1"] == "failed" and statuses["webhook slack 127.0.0.1"] == "sent"


def test_a_secret_missing_from_the_environment_is_said_not_raised(con, tmp_path, hooks):
    run = raise_critical(con, every_kind(tmp_path, hooks, dingtalk_secret_env="TEST_NOT_SET_ANYWHERE"))
    refused = [d for d in run.deliveries if not d.ok]
    assert [d.error for d in refused] == ["$TEST_NOT_SET_ANYWHERE (the signing secret) is not set"]
    assert hooks.on("/dingtalk") == []
