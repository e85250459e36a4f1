"""notifications.toml: found beside the targets, checked whole, and every mistake said in one line naming the file."""

from __future__ import annotations

import pytest

from metrics.notify.config import NotifyConfigError, find_config, load_config
from tests.conftest import ROOT, run_cli

GOOD_EMAIL = '[[notify.email]]\nsmtp_host = "smtp.example.com"\nfrom = "radar@example.com"\nto = ["ops@example.com"]\n'
GOOD_HOOK = '[[notify.webhook]]\nkind = "slack"\nurl = "https://hooks.slack.com/services/T0/B0/x"\n'


def write(folder, text: str):
    path = folder / "notifications.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_file_reads_as_written(tmp_path):
    config = load_config(
        write(
            tmp_path,
            '[notify]\nmin_severity = "critical"\ndashboard_url = "https://radar.example.com/"\nmax_attempts = 3\n'
            + GOOD_EMAIL
            + 'port = 465\nssl = true\nusername = "radar"\npassword_env = "SMTP_PASSWORD"\n'
            + GOOD_HOOK
            + '[[notify.webhook]]\nkind = "dingtalk"\nname = "duty room"\n'
            + 'url_env = "DINGTALK_URL"\nsecret_env = "DT"\n',
        )
    )
    assert (config.min_severity, config.max_attempts, config.recent_days) == ("critical", 3, 35)
    email = config.emails[0]
    assert (email.port, email.ssl, email.starttls, email.password_env) == (465, True, False, "SMTP_PASSWORD")
    assert [d.key for d in config.destinations] == [
        "e-mail to ops@example.com",
        "webhook slack hooks.slack.com",  # the host, never the URL's secret path
        "webhook dingtalk duty room",
    ]
    assert config.crisis_link(12) == "https://radar.example.com/crisis_radar?crisis=12"


def test_the_file_is_found_beside_the_targets_then_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("CSAT_RADAR_NOTIFY", raising=False)
    monkeypatch.delenv("CSAT_RADAR_TARGETS", raising=False)
    beside, elsewhere = tmp_path / "org", tmp_path / "cwd"
    beside.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert find_config() is None  # none anywhere: notifications are simply off

    write(elsewhere, "[notify]\n" + GOOD_HOOK)
    assert find_config().source == "notifications.toml"
    write(beside, '[notify]\nmin_severity = "minor"\n' + GOOD_EMAIL)
    assert find_config(targets_source=str(beside / "targets.toml")).min_severity == "minor"
    monkeypatch.setenv("CSAT_RADAR_TARGETS", str(beside / "targets.toml"))
    assert find_config().min_severity == "minor"
    monkeypatch.setenv("CSAT_RADAR_NOTIFY", str(elsewhere / "notifications.toml"))
    assert find_config().min_severity == "major"
    with pytest.raises(NotifyConfigError, match=r"missing.toml: notifications file not found \(named by --notify"):
        find_config(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[notify]\n", "no destination; add a [[notify.email]] or a [[notify.webhook]]"),
        ("[notify\n", "not valid TOML"),
        ('[notify]\nmin_severity = "high"\n' + GOOD_HOOK, "min_severity 'high' is not one of observe, minor, major"),
        ('[notify]\ndashboard_url = "radar:8501"\n' + GOOD_HOOK, "dashboard_url must be an http:// or https://"),
        ("[notify]\nmax_attempts = 0\n" + GOOD_HOOK, "max_attempts must be a number of at least 1, not 0"),
        ("[notify]\nmin_severty = 'major'\n" + GOOD_HOOK, "[notify] has unknown key(s) min_severty"),
        ("[notify]\n" + GOOD_EMAIL + 'password = "hunter2"\n', "no password in the file; name its variable"),
        ("[notify]\n" + GOOD_EMAIL.replace('["ops@example.com"]', "[]"), 'needs to = ["someone@example.com", ...]'),
        ("[notify]\n" + GOOD_EMAIL.replace('from = "radar@example.com"\n', ""), "needs from as a non-empty text"),
        ("[notify]\n" + GOOD_HOOK.replace("slack", "discord", 1), "kind 'discord'; expected one of slack, teams"),
        ("[notify]\n" + GOOD_HOOK.replace("https://", "ftp://"), "url must be an http:// or https:// address"),
        ("[notify]\n" + GOOD_HOOK + 'secret_env = "S"\n', "secret_env signs DingTalk and Feishu webhooks only"),
        ("[notify]\n" + GOOD_HOOK + GOOD_HOOK, "two destinations are both 'webhook slack hooks.slack.com'"),
        ('[notify]\n[[notify.webhook]]\nkind = "json"\n', "needs exactly one of url or url_env"),
        ("[other]\nx = 1\n", "expected one [notify] table"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file_and_the_problem(tmp_path, text, problem):
    path = write(tmp_path, text)
    with pytest.raises(NotifyConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_the_command_line_says_a_bad_or_missing_file_in_one_line(tmp_path):
    bad = write(tmp_path, '[notify]\nmin_severity = "high"\n' + GOOD_HOOK)
    done = run_cli("notify", "test", "--notify-config", str(bad))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"csat-radar: {bad}: min_severity 'high' is not one of observe, minor, major, critical"
    ]

    db = tmp_path / "never-opened.duckdb"
    missing = run_cli(
        "crises", "--notify", "--db", str(db), "--targets", str(ROOT / "metrics/kpis/default_targets.toml")
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("csat-radar: notifications.toml: no notifications configured: write notifications")
    assert len(missing.stderr.splitlines()) == 1
    assert not db.exists()  # said before the warehouse is opened


def test_the_documented_example_file_is_a_valid_configuration():
    config = load_config(ROOT / "docs" / "notifications.example.toml")
    assert config.min_severity == "major" and config.emails[0].password_env == "CSAT_RADAR_SMTP_PASSWORD"
    assert [w.kind for w in config.webhooks] == ["slack"]  # the others are commented out, ready to switch on
