"""Posting JSON to a chat or webhook URL: idempotency header, status and error-code checks.

Error messages name the channel and the URL without its query, credentials or (Slack) the
secret path, so a token can never reach a log, an artifact or `shoppulse alerts list`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

from alerts.errors import DeliveryError

__all__ = ["check_code", "post_json", "safe_url", "scrub"]


def safe_url(url: str) -> str:
    """The URL without credentials, query or fragment; a Slack hook's secret path is hidden."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    path = parts.path
    if "/services/" in path:
        path = path.split("/services/", 1)[0] + "/services/***"
    return f"{parts.scheme}://{host}{port}{path}"


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every secret (token, key, full URL) in `text` with ***."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def post_json(
    http: httpx.Client,
    *,
    channel: str,
    url: str,
    body: Any,
    delivery_id: str,
    timeout: float,
    secrets: Iterable[str | None] = (),
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST `body` as UTF-8 JSON; any transport failure or non-2xx answer is a DeliveryError."""
    hidden = [url, urlsplit(url).query, *secrets]
    where = f"{channel}: POST {safe_url(url)}"
    try:
        response = http.post(
            url,
            content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Idempotency-Key": delivery_id,
                "User-Agent": "shoppulse-alerts",
                **(headers or {}),
            },
            timeout=timeout,
        )
    except httpx.TimeoutException:
        raise DeliveryError(f"{where} timed out after {timeout:g}s", channel=channel) from None
    except httpx.HTTPError as exc:
        detail = scrub(str(exc), hidden) or type(exc).__name__
        raise DeliveryError(f"{where} failed: {detail}", channel=channel) from None
    if not 200 <= response.status_code < 300:
        text = scrub(response.text[:200], hidden).strip()
        raise DeliveryError(
            f"{where} answered HTTP {response.status_code}" + (f": {text}" if text else ""),
            channel=channel,
        )
    return response


def check_code(
    response: httpx.Response,
    *,
    channel: str,
    url: str,
    keys: tuple[str, ...],
    message_keys: tuple[str, ...],
    secrets: Iterable[str | None] = (),
) -> None:
    """Chat APIs answer 200 with an error code in the body: anything but 0 is a failure."""
    where = f"{channel}: POST {safe_url(url)}"
    try:
        data = response.json()
    except ValueError:
        raise DeliveryError(f"{where} answered 200 without a JSON body", channel=channel) from None
    if not isinstance(data, dict):
        raise DeliveryError(f"{where} answered 200 with an unexpected body", channel=channel)
    for key in keys:
        if key in data:
            code = data[key]
            if code == 0:
                return
            text = next((str(data[k]) for k in message_keys if k in data), "")
            text = scrub(text[:200], [url, urlsplit(url).query, *secrets])
            raise DeliveryError(f"{where} answered {key} {code}: {text}", channel=channel)
    raise DeliveryError(
        f"{where} answered 200 without {' or '.join(keys)} in its body", channel=channel
    )
