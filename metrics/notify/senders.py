"""Delivering a message: e-mail over SMTP, and a JSON POST to each chat's incoming webhook.

Written on the standard library (``smtplib``, ``email``, ``urllib.request``) rather than on
``apprise``: apprise turns a ``slack://``, ``msteams://``, ``dingtalk://``, ``wecom://`` or
``feishu://`` address into a request to the vendor's own host, so no test could deliver to a
receiver on this machine and check what arrived, except for its generic JSON; and it would add a
large dependency for six small payloads. Each payload follows its vendor's documented webhook:

* Slack incoming webhook: ``{"text": ...}`` in Slack's mrkdwn (``&``, ``<``, ``>`` escaped).
* Microsoft Teams (a Workflows "post to a channel when a webhook request is received"; the old
  Office 365 connectors are retired): a message with one Adaptive Card attachment.
* DingTalk custom robot: ``{"msgtype": "markdown", "markdown": {"title", "text"}}``; with a
  signing secret, ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(secret, "timestamp\\nsecret"))
  are added to the URL's query.
* WeCom (企业微信) group robot: ``{"msgtype": "markdown", "markdown": {"content"}}``.
* Feishu (飞书) custom bot: ``{"msg_type": "text", "content": {"text"}}``; with a signing secret,
  ``timestamp`` (s) and ``sign`` = base64(HMAC-SHA256(key "timestamp\\nsecret", empty message)).
* Generic JSON: the message's title, text and link, and the full event.

DingTalk, WeCom and Feishu answer HTTP 200 even when they refuse a message; their ``errcode`` or
``code`` in the reply is read as the outcome. Every failure is a ``DeliveryError`` of one line:
timeouts are a few seconds, and no traceback reaches the user.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import hmac
import json
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import quote_plus, urlsplit

from metrics.notify.config import EmailDestination, WebhookDestination
from metrics.notify.messages import Message


class DeliveryError(RuntimeError):
    """A message that did not arrive; the one-line reason is what the outbox records."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split())[:300])


def send(destination: EmailDestination | WebhookDestination, message: Message, timeout: float) -> None:
    """Deliver ``message`` to ``destination``, or raise DeliveryError."""
    if isinstance(destination, EmailDestination):
        send_email(destination, message, timeout)
    else:
        send_webhook(destination, message, timeout)


def send_email(destination: EmailDestination, message: Message, timeout: float) -> None:
    # Headers up to the line limit SMTP allows: a subject folded at 78 reads with a stray space in some clients.
    mail = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=998))
    mail["Subject"] = f"[CSAT Radar] {message.title}"
    mail["From"] = destination.sender
    mail["To"] = ", ".join(destination.to)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=destination.sender.rpartition("@")[2] or None)
    mail.set_content(message.plain())
    password = None
    if destination.password_env:
        password = os.environ.get(destination.password_env)
        if password is None:
            raise DeliveryError(f"${destination.password_env} (the SMTP password) is not set")
    host = f"{destination.smtp_host}:{destination.port}"
    try:
        if destination.ssl:
            client = smtplib.SMTP_SSL(destination.smtp_host, destination.port, timeout=timeout)
        else:
            client = smtplib.SMTP(destination.smtp_host, destination.port, timeout=timeout)
        with client:
            if destination.starttls:
                client.starttls(context=ssl.create_default_context())
            if destination.username:
                client.login(destination.username, password or "")
            client.send_message(mail)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"{host} refused the login of {destination.username} ({exc.smtp_code})") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(f"{host}: {exc}") from None
    except smtplib.SMTPException as exc:
        raise DeliveryError(f"{host}: {exc}") from None
    except TimeoutError:
        raise DeliveryError(f"no answer from {host} within {timeout:g} s") from None
    except OSError as exc:
        raise DeliveryError(f"cannot reach {host}: {exc.strerror or exc}") from None


def payload(kind: str, message: Message) -> dict:
    """The JSON body each chat's webhook expects."""
    if kind == "slack":
        return {"text": _slack(message)}
    if kind == "teams":
        return _teams(message)
    if kind == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": message.title, "text": message.markdown()}}
    if kind == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": message.markdown()}}
    if kind == "feishu":
        return {"msg_type": "text", "content": {"text": message.plain()}}
    return {"source": "csat-radar", "title": message.title, "text": message.plain(), "link": message.link,
            "event": message.data}  # fmt: skip


def send_webhook(
    destination: WebhookDestination, message: Message, timeout: float, clock: Callable[[], float] = time.time
) -> None:
    url = destination.url or os.environ.get(destination.url_env or "")
    if not url:
        raise DeliveryError(f"${destination.url_env} (the webhook's address) is not set")
    body = payload(destination.kind, message)
    if destination.secret_env:
        secret = os.environ.get(destination.secret_env)
        if secret is None:
            raise DeliveryError(f"${destination.secret_env} (the signing secret) is not set")
        url, body = signed(destination.kind, url, body, secret, clock())
    _post(destination, url, body, timeout)


def dingtalk_sign(secret: str, millis: int) -> str:
    digest = hmac.new(secret.encode(), f"{millis}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, seconds: int) -> str:
    digest = hmac.new(f"{seconds}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed(kind: str, url: str, body: dict, secret: str, now: float) -> tuple[str, dict]:
    """The URL and body of a signed DingTalk or Feishu request at ``now`` (seconds since the epoch)."""
    if kind == "dingtalk":
        millis = int(now * 1000)
        joiner = "&" if urlsplit(url).query else "?"
        return f"{url}{joiner}timestamp={millis}&sign={quote_plus(dingtalk_sign(secret, millis))}", body
    seconds = int(now)
    return url, {"timestamp": str(seconds), "sign": feishu_sign(secret, seconds), **body}


def _post(destination: WebhookDestination, url: str, body: dict, timeout: float) -> None:
    host = urlsplit(url).hostname or "?"
    request = urllib.request.Request(
        url,
        data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "csat-radar"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = response.read(65536).decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} {exc.reason} from {host}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason.strerror if isinstance(exc.reason, OSError) and exc.reason.strerror else exc.reason
        raise DeliveryError(f"cannot reach {host}: {reason}") from None
    except TimeoutError:
        raise DeliveryError(f"no answer from {host} within {timeout:g} s") from None
    except OSError as exc:
        raise DeliveryError(f"{host}: {exc}") from None
    refusal = _vendor_refusal(destination.kind, reply)
    if refusal:
        raise DeliveryError(f"{host} refused the message: {refusal}")


def _vendor_refusal(kind: str, reply: str) -> str | None:
    """The refusal a robot reports inside an HTTP 200, or None."""
    if kind not in ("dingtalk", "wecom", "feishu"):
        return None
    try:
        answer = json.loads(reply)
    except json.JSONDecodeError:
        return None
    if not isinstance(answer, dict):
        return None
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
    if code in (0, None):
        return None
    return f"{code} {answer.get('errmsg') or answer.get('msg') or answer.get('StatusMessage') or ''}".strip()


def _slack(message: Message) -> str:
    def escape(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    body = [f"*{escape(message.title)}*", *(f"*{label}:* {escape(value)}" for label, value in message.lines)]
    return "\n".join(body + ([f"<{message.link}|{escape(message.link_text)}>"] if message.link else []))


def _teams(message: Message) -> dict:
    facts = [{"title": label, "value": value} for label, value in message.lines]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": message.title, "weight": "Bolder", "size": "Medium", "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": message.link_text, "url": message.link}]
        if message.link
        else [],
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
