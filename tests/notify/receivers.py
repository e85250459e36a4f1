"""Real local receivers for the notification tests: an SMTP server and a webhook endpoint, each on a thread.

The SMTP server speaks enough of RFC 5321 for ``smtplib`` (EHLO/HELO, AUTH PLAIN, MAIL, RCPT,
DATA with dot-unstuffing, RSET, NOOP, QUIT) and keeps every message it accepted. The webhook
endpoint keeps every POST (path, query, JSON body) and, like the robots it stands for, answers
DingTalk and Feishu requests on a path registered with a secret by checking their signature,
and answers ``errcode`` 0 or a refusal. Both stop, threads joined, when their ``with`` ends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    user: str | None


class _SMTPHandler(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:  # one SMTP session
        server: SMTPReceiver = self.server.receiver
        self.reply("220 localhost test SMTP ready")
        sender, recipients, user = None, [], None
        while line := self.rfile.readline():
            command = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-localhost\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
            elif verb == "HELO":
                self.reply("250 localhost")
            elif verb == "AUTH":
                parts = command.split()
                _, name, password = base64.b64decode(parts[2]).decode().split("\0")
                if (name, password) == server.credentials:
                    user = name
                    self.reply("235 2.7.0 Authentication successful")
                else:
                    self.reply("535 5.7.8 Authentication credentials invalid")
            elif verb == "MAIL":
                if server.credentials and user is None:
                    self.reply("530 5.7.0 Authentication required")
                    continue
                sender, recipients = command.split(":", 1)[1].split()[0].strip("<>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (raw := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    lines.append(raw[1:] if raw.startswith(b"..") else raw)
                message = message_from_bytes(b"".join(lines), policy=policy.default)
                server.mails.append(Mail(sender, recipients, message, user))
                self.reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class SMTPReceiver:
    """``with SMTPReceiver() as smtp:`` a server on ``smtp.port``; ``smtp.mails`` holds what arrived."""

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.mails: list[Mail] = []
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
        self._server.daemon_threads = True
        self._server.receiver = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-smtp", daemon=True)

    def __enter__(self) -> SMTPReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass
class Call:
    path: str
    query: dict[str, list[str]]
    body: dict
    headers: dict[str, str] = field(default_factory=dict)


def dingtalk_expected_sign(secret: str, timestamp: str) -> str:
    """DingTalk's documented check, written out here independently of the code under test."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), digestmod=hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("utf-8")


def feishu_expected_sign(secret: str, timestamp: str) -> str:
    """Feishu's documented check: the key is "timestamp\\nsecret", the message empty."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), digestmod=hashlib.sha256).digest()
    return base64.b64encode(digest).decode("utf-8")


class _HTTPHandler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet: the test reads the calls, not a log
        pass

    def do_POST(self) -> None:
        receiver: HTTPReceiver = self.server.receiver
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._answer(400, {"error": "not JSON"})
            return
        query = parse_qs(parts.query)
        receiver.calls.append(Call(parts.path, query, body, dict(self.headers)))
        status = receiver.statuses.get(parts.path, 200)
        self._answer(status, self._robot_answer(receiver, parts.path, query, body))

    def _robot_answer(self, receiver: HTTPReceiver, path: str, query: dict, body: dict) -> dict:
        secret = receiver.secrets.get(path)
        if path.startswith("/dingtalk") and secret is not None:
            stamp, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
            if sign != dingtalk_expected_sign(secret, stamp):
                return {"errcode": 310000, "errmsg": "sign not match"}
        feishu_sign = feishu_expected_sign(secret, str(body.get("timestamp"))) if secret is not None else None
        if path.startswith("/feishu") and secret is not None and body.get("sign") != feishu_sign:
            return {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}
        if path.startswith("/feishu"):
            return {"code": 0, "msg": "success"}
        return {"errcode": 0, "errmsg": "ok"}

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class HTTPReceiver:
    """``with HTTPReceiver() as hooks:`` an endpoint at ``hooks.url(path)``; ``hooks.calls`` holds the POSTs."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.secrets: dict[str, str] = {}  # path -> signing secret the robot checks
        self.statuses: dict[str, int] = {}  # path -> HTTP status to answer (default 200)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _HTTPHandler)
        self._server.daemon_threads = True
        self._server.receiver = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-webhooks", daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def __enter__(self) -> HTTPReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def free_port() -> int:
    """A port nothing listens on (bound, then released): a receiver that is down."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
