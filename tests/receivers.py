"""Loopback receivers for alert tests: an HTTP server per chat format and an SMTP server.

Each HTTP responder behaves like the real service would for the checks it makes: DingTalk
and Feishu recompute the signature and answer HTTP 200 with a non-zero code when it does not
match, WeCom enforces its 4,096-byte markdown limit, the webhook receiver validates the
Alertmanager version 4 shape. Everything binds 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message as MimeMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


Responder = Callable[[Request], tuple[int, Any]]


@dataclass
class Receiver:
    """A threaded HTTP server on 127.0.0.1 recording every POST and answering via `respond`."""

    respond: Responder
    requests: list[Request] = field(default_factory=list)
    delay: float = 0.0
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def serve(respond: Responder, *, delay: float = 0.0) -> Iterator[Receiver]:
    """Run a Receiver for the duration of the block."""
    receiver = Receiver(respond, delay=delay)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            parts = urlsplit(self.path)
            request = Request(
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
            receiver.requests.append(request)
            if receiver.delay:
                time.sleep(receiver.delay)
            status, answer = receiver.respond(request)
            data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def ok(_: Request) -> tuple[int, Any]:
    return 200, b""


def flaky(failures: int, status: int = 503) -> Responder:
    """Fails `failures` times with `status`, then accepts."""
    count = {"n": 0}

    def respond(_: Request) -> tuple[int, Any]:
        count["n"] += 1
        return (status, {"error": "try later"}) if count["n"] <= failures else (200, b"")

    return respond


def webhook_problems(payload: Any) -> list[str]:
    """Differences from the Alertmanager webhook payload, version 4."""
    problems = []
    top = {
        "version",
        "groupKey",
        "truncatedAlerts",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    }
    if not isinstance(payload, dict) or set(payload) != top:
        return [f"top-level keys {sorted(payload) if isinstance(payload, dict) else payload}"]
    if payload["version"] != "4":
        problems.append("version is not '4'")
    if payload["status"] not in ("firing", "resolved"):
        problems.append("bad status")
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        if not isinstance(payload[key], dict):
            problems.append(f"{key} is not an object")
    keys = {"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"}
    for alert in payload["alerts"]:
        if set(alert) != keys:
            problems.append(f"alert keys {sorted(alert)}")
            continue
        for label in ("alertname", "severity", "shop"):
            if label not in alert["labels"]:
                problems.append(f"alert lacks label {label}")
        for note in ("summary", "description", "value", "baseline"):
            if note not in alert["annotations"]:
                problems.append(f"alert lacks annotation {note}")
        if not RFC3339.match(alert["startsAt"]) or not RFC3339.match(alert["endsAt"]):
            problems.append("times are not RFC 3339")
        if (alert["status"] == "firing") != (alert["endsAt"] == ZERO_TIME):
            problems.append("endsAt must be zero time exactly while firing")
    return problems


def webhook(request: Request) -> tuple[int, Any]:
    problems = webhook_problems(request.json)
    return (400, {"error": "; ".join(problems)}) if problems else (200, b"")


def dingtalk(secret: str | None) -> Responder:
    """A DingTalk robot: markdown body, signature checked when a secret is set."""

    def respond(request: Request) -> tuple[int, Any]:
        if secret:
            timestamp = request.query.get("timestamp", [""])[0]
            sign = request.query.get("sign", [""])[0]  # parse_qs decodes exactly once
            digest = hmac.new(
                secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256
            ).digest()
            expected = base64.b64encode(digest).decode()
            fresh = timestamp.isdigit() and abs(time.time() * 1000 - int(timestamp)) < 3_600_000
            if not fresh or not hmac.compare_digest(sign, expected):
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
        body = request.json
        markdown = body.get("markdown", {})
        if (
            body.get("msgtype") != "markdown"
            or not markdown.get("title")
            or not markdown.get("text")
        ):
            return 200, {"errcode": 40035, "errmsg": "missing parameter"}
        if len(request.body) > 20_000:
            return 200, {"errcode": 460101, "errmsg": "message too long"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    return respond


def feishu(secret: str | None) -> Responder:
    """A Feishu bot: interactive card, `timestamp` + `sign` in the body checked."""

    def respond(request: Request) -> tuple[int, Any]:
        body = request.json
        if secret:
            timestamp = str(body.get("timestamp", ""))
            key = f"{timestamp}\n{secret}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if body.get("sign") != expected:
                return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within"}
        card = body.get("card", {})
        if body.get("msg_type") != "interactive" or not card.get("elements"):
            return 200, {"code": 9499, "msg": "Bad Request"}
        if len(request.body) > 20 * 1024:
            return 200, {"code": 9499, "msg": "request too large"}
        return 200, {"code": 0, "msg": "success", "data": {}}

    return respond


def wecom(request: Request) -> tuple[int, Any]:
    body = request.json
    content = body.get("markdown", {}).get("content", "")
    if body.get("msgtype") != "markdown" or not content:
        return 200, {"errcode": 40008, "errmsg": "invalid message type"}
    if len(content.encode("utf-8")) > 4096:
        return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
    return 200, {"errcode": 0, "errmsg": "ok"}


def slack(request: Request) -> tuple[int, Any]:
    body = request.json
    text = body.get("text")
    if not isinstance(text, str) or not text or len(text) > 40_000:
        return 400, b"invalid_payload"
    for block in body.get("blocks", []):
        if block.get("type") != "section" or len(block["text"]["text"]) > 3000:
            return 400, b"invalid_blocks"
    return 200, b"ok"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Collect:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], MimeMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mime = message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), mime))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[tuple[str, list[str], MimeMessage]]]]:
    """An aiosmtpd server on 127.0.0.1 (no TLS); yields (port, received messages)."""
    handler = _Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, handler.messages
    finally:
        controller.stop()


# -- helpers shared by the alert tests ----------------------------------------------------


def alert_settings(
    tmp_path: Any,
    channels: list[dict[str, Any]] | None = None,
    routes: list[dict[str, Any]] | None = None,
    **alerting: Any,
) -> Any:
    """Settings for one shop with a warehouse in tmp_path and the given channels and routes."""
    from flows.settings import parse_settings

    data: dict[str, Any] = {
        "shop": {"name": "demo-shop", "timezone": "Asia/Shanghai", "locale": "en"},
        "source": {"base_url": "http://127.0.0.1:9"},
        "warehouse": {"path": str(tmp_path / "shop.duckdb")},
        "channels": channels if channels is not None else [],
        "routes": routes or [],
        "alerting": alerting,
    }
    if "shop" in alerting:
        data["shop"] = {**data["shop"], **alerting.pop("shop")}
    if "thresholds" in alerting:
        data["rules"] = {"thresholds": alerting.pop("thresholds")}
    return parse_settings(data, env={})


def make_alert(
    hour: Any,
    alertname: str = "conversion_drop",
    severity: str = "warning",
    impact: float = 100.0,
    **labels: str,
) -> Any:
    from alerts.model import Alert

    return Alert(
        alertname=alertname,
        severity=severity,
        labels=labels or {"source": "search"},
        annotations={
            "summary": f"{alertname} in {labels or 'shop'}",
            "description": "conversion is well below the usual level for this hour",
            "value": "0.021",
            "baseline": "0.034",
        },
        hour=hour,
        impact=impact,
    )
