"""Where crisis notifications go: ``notifications.toml``, found beside the targets file and checked whole.

Lookup, first found wins: the path given (``--notify-config``), ``$CSAT_RADAR_NOTIFY``, then
``notifications.toml`` in the folder of the targets file in use (``--targets``,
``$CSAT_RADAR_TARGETS`` or ``./targets.toml``), then ``./notifications.toml``. No file means
notifications are not configured: a scan records its crises and tells nobody.

Secrets never sit in the file: an SMTP password, a DingTalk or Feishu signing secret, and a
webhook URL whose path is itself the secret (Slack's) are named by the environment variable that
holds them (``password_env``, ``secret_env``, ``url_env``). A destination is known in the warehouse
by its name (``e-mail to ops@example.com``, ``webhook slack hooks.slack.com``), never by its URL.

Every problem is a ``NotifyConfigError`` of one line naming the file and what is wrong.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from metrics.crises.model import SEVERITIES
from metrics.kpis.settings import DEFAULT_FILE, TARGETS_ENV

NOTIFY_ENV = "CSAT_RADAR_NOTIFY"
FILE_NAME = "notifications.toml"
WEBHOOK_KINDS = ("slack", "teams", "dingtalk", "wecom", "feishu", "json")
SIGNED_KINDS = ("dingtalk", "feishu")  # the robots whose webhooks can require a signature
_NOTIFY_KEYS = {"min_severity", "dashboard_url", "recent_days", "max_attempts", "timeout_seconds", "email", "webhook"}
_EMAIL_KEYS = {"name", "smtp_host", "port", "starttls", "ssl", "username", "password_env", "from", "to"}
_WEBHOOK_KEYS = {"name", "kind", "url", "url_env", "secret_env"}


class NotifyConfigError(ValueError):
    """A notifications file that cannot be used; one line naming the file and the problem."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass(frozen=True)
class EmailDestination:
    smtp_host: str
    port: int
    sender: str
    to: tuple[str, ...]
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password_env: str | None = None
    name: str | None = None

    @property
    def key(self) -> str:
        return f"e-mail {self.name}" if self.name else f"e-mail to {', '.join(self.to)}"


@dataclass(frozen=True)
class WebhookDestination:
    kind: str
    url: str | None = None
    url_env: str | None = None
    secret_env: str | None = None
    name: str | None = None

    @property
    def key(self) -> str:
        where = self.name or (urlsplit(self.url).hostname if self.url else f"${self.url_env}")
        return f"webhook {self.kind} {where}"


@dataclass(frozen=True)
class NotifyConfig:
    source: str
    min_severity: str = "major"
    dashboard_url: str = "http://localhost:8501"
    # Events of crises last flagged more than this many days before the scan are old news (a
    # load's history scan): never told. 35 days leave room for a weekly recovery (2 quiet weeks).
    recent_days: int = 35
    max_attempts: int = 5
    timeout_seconds: float = 5.0
    emails: tuple[EmailDestination, ...] = ()
    webhooks: tuple[WebhookDestination, ...] = ()

    @property
    def destinations(self) -> tuple[EmailDestination | WebhookDestination, ...]:
        return (*self.emails, *self.webhooks)

    def crisis_link(self, crisis_id: int) -> str:
        """The crisis's page in the dashboard, as a shared link names it."""
        return f"{self.dashboard_url.rstrip('/')}/crisis_radar?crisis={int(crisis_id)}"


def config_path(explicit: str | os.PathLike | None = None, targets_source: str | None = None) -> Path | None:
    """The notifications file to read, or None when there is none; a named file that is missing is an error."""
    for named, how in ((explicit, "--notify-config"), (os.environ.get(NOTIFY_ENV), f"${NOTIFY_ENV}")):
        if named:
            path = Path(named)
            if not path.is_file():
                raise NotifyConfigError(f"{path}: notifications file not found (named by {how})")
            return path
    folders = []
    targets = (
        targets_source or os.environ.get(TARGETS_ENV) or ("targets.toml" if Path("targets.toml").exists() else None)
    )
    if targets and Path(targets).resolve() != DEFAULT_FILE.resolve():
        folders.append(Path(targets).parent)
    folders.append(Path("."))
    return next((folder / FILE_NAME for folder in folders if (folder / FILE_NAME).is_file()), None)


def find_config(explicit: str | os.PathLike | None = None, targets_source: str | None = None) -> NotifyConfig | None:
    """The notifications configured beside the targets (see the module's lookup), or None."""
    path = config_path(explicit, targets_source)
    return None if path is None else load_config(path)


def load_config(path: str | os.PathLike) -> NotifyConfig:
    """Read and check a notifications file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotifyConfigError(f"{path}: notifications file not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise NotifyConfigError(f"{path}: not valid TOML ({exc})") from exc
    name = str(path)
    notify = data.get("notify")
    if not isinstance(notify, dict) or set(data) - {"notify"}:
        raise NotifyConfigError(
            f"{name}: expected one [notify] table and its [[notify.email]]/[[notify.webhook]] lists"
        )
    _known(name, "[notify]", notify, _NOTIFY_KEYS)
    min_severity = notify.get("min_severity", "major")
    if min_severity not in SEVERITIES:
        raise NotifyConfigError(f"{name}: min_severity {min_severity!r} is not one of {', '.join(SEVERITIES)}")
    dashboard_url = notify.get("dashboard_url", "http://localhost:8501")
    _check_url(name, "dashboard_url", dashboard_url)
    config = NotifyConfig(
        source=name,
        min_severity=min_severity,
        dashboard_url=dashboard_url,
        recent_days=_number(name, "recent_days", notify.get("recent_days", 35), int, 1),
        max_attempts=_number(name, "max_attempts", notify.get("max_attempts", 5), int, 1),
        timeout_seconds=float(_number(name, "timeout_seconds", notify.get("timeout_seconds", 5), (int, float), 0.1)),
        emails=tuple(_email(name, i, e) for i, e in enumerate(_tables(name, notify, "email"), start=1)),
        webhooks=tuple(_webhook(name, i, w) for i, w in enumerate(_tables(name, notify, "webhook"), start=1)),
    )
    if not config.destinations:
        raise NotifyConfigError(f"{name}: no destination; add a [[notify.email]] or a [[notify.webhook]]")
    keys = [d.key for d in config.destinations]
    doubled = sorted({k for k in keys if keys.count(k) > 1})
    if doubled:
        raise NotifyConfigError(f"{name}: two destinations are both {doubled[0]!r}; give each its own name")
    return config


def _tables(name: str, notify: dict, key: str) -> list[dict]:
    entries = notify.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise NotifyConfigError(f"{name}: write each {key} destination as a [[notify.{key}]] table")
    return entries


def _known(name: str, where: str, table: dict, keys: set[str]) -> None:
    unknown = sorted(set(table) - keys)
    if unknown:
        raise NotifyConfigError(
            f"{name}: {where} has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(keys))}"
        )


def _number(name: str, key: str, value: Any, kind: Any, least: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, kind) or value < least:
        raise NotifyConfigError(f"{name}: {key} must be a number of at least {least:g}, not {value!r}")
    return value


def _text(name: str, where: str, table: dict, key: str, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise NotifyConfigError(f"{name}: {where} needs {key} as a non-empty text")
    return value.strip()


def _check_url(name: str, where: str, url: Any) -> None:
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotifyConfigError(f"{name}: {where} must be an http:// or https:// address, not {url!r}")


def _email(name: str, number: int, table: dict) -> EmailDestination:
    where = f"[[notify.email]] number {number}"
    if "password" in table:  # the mistake that matters, said before any other
        raise NotifyConfigError(f"{name}: {where}: no password in the file; name its variable in password_env")
    _known(name, where, table, _EMAIL_KEYS)
    to = table.get("to")
    to = [to] if isinstance(to, str) else to
    if not isinstance(to, list) or not to or not all(isinstance(a, str) and "@" in a for a in to):
        raise NotifyConfigError(f'{name}: {where} needs to = ["someone@example.com", ...]')
    sender = _text(name, where, table, "from", required=True)
    if "@" not in sender:
        raise NotifyConfigError(f"{name}: {where} has from = {sender!r}, not an e-mail address")
    ssl = table.get("ssl", False)
    starttls = table.get("starttls", not ssl)
    if not isinstance(ssl, bool) or not isinstance(starttls, bool):
        raise NotifyConfigError(f"{name}: {where}: starttls and ssl are true or false")
    return EmailDestination(
        smtp_host=_text(name, where, table, "smtp_host", required=True),
        port=_number(name, f"{where} port", table.get("port", 465 if ssl else 587), int, 1),
        sender=sender,
        to=tuple(a.strip() for a in to),
        starttls=starttls and not ssl,
        ssl=ssl,
        username=_text(name, where, table, "username"),
        password_env=_text(name, where, table, "password_env"),
        name=_text(name, where, table, "name"),
    )


def _webhook(name: str, number: int, table: dict) -> WebhookDestination:
    where = f"[[notify.webhook]] number {number}"
    _known(name, where, table, _WEBHOOK_KEYS)
    kind = table.get("kind")
    if kind not in WEBHOOK_KINDS:
        raise NotifyConfigError(f"{name}: {where} has kind {kind!r}; expected one of {', '.join(WEBHOOK_KINDS)}")
    url, url_env = table.get("url"), _text(name, where, table, "url_env")
    if (url is None) == (url_env is None):
        raise NotifyConfigError(f"{name}: {where} needs exactly one of url or url_env")
    if url is not None:
        _check_url(name, f"{where} url", url)
    secret_env = _text(name, where, table, "secret_env")
    if secret_env and kind not in SIGNED_KINDS:
        raise NotifyConfigError(f"{name}: {where}: secret_env signs DingTalk and Feishu webhooks only, not {kind}")
    return WebhookDestination(kind, url, url_env, secret_env, _text(name, where, table, "name"))
