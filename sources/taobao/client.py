"""The TOP REST gateway over httpx: public parameters, signature, error_response, call limits."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson

from sources.errors import ExportFatalError, ExportTransientError
from sources.retry import Retry, with_retries
from sources.settings import SourceSettings
from sources.taobao.errors import TopAuthError, TopCallError, TopLimitError
from sources.taobao.signature import sign

__all__ = ["CHINA", "TopClient", "iso_from_top", "top_list", "top_time", "unwrap"]

CHINA = timezone(timedelta(hours=8), "UTC+8")
# error_response codes (TOP 平台错误码): 7 call limit; 26/27 missing/invalid session;
# 11/12/13 insufficient ISV/user/partner permission; 25 invalid signature;
# 10 service unavailable and 15 with an isp.* sub_code are the platform's own trouble.
LIMIT_CODES = frozenset({7})
SESSION_CODES = frozenset({26, 27, 53})
PERMISSION_CODES = frozenset({11, 12, 13})
TRANSIENT_CODES = frozenset({10})
_TOP_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_BAN = re.compile(r"ban will last for (\d+) more seconds?", re.IGNORECASE)


def top_time(value: datetime) -> str:
    """An instant as TOP writes times: 'yyyy-MM-dd HH:mm:ss' in UTC+8."""
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def iso_from_top(value: Any) -> str | None:
    """A TOP time ('yyyy-MM-dd HH:mm:ss', UTC+8) as ISO-8601 with its offset."""
    if not value:
        return None
    text = str(value)
    if _TOP_TIME.fullmatch(text):
        # rewritten, not parsed: strptime was most of the mapping's time; staging checks it
        return f"{text[:10]}T{text[11:]}+08:00"
    return text  # staging quarantines an unreadable time with the reason


def top_list(value: Any, inner: str) -> list[dict[str, Any]]:
    """A TOP list, simplified ([...]) or not ({"trade": [...]})."""
    if isinstance(value, dict):
        value = value.get(inner)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def unwrap(doc: dict[str, Any]) -> dict[str, Any]:
    """The response object whether or not `simplify` dropped the `<method>_response` wrapper."""
    if len(doc) == 1:
        (key, value), *_ = doc.items()
        if key.endswith("_response") and isinstance(value, dict):
            return value
    return doc


class TopClient:
    """Signed calls to the TOP gateway as the seller's authorised app, paced and retried."""

    def __init__(
        self,
        settings: SourceSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        assert settings.app_key and settings.app_secret and settings.session
        self.settings = settings
        self.name = f"taobao:{settings.app_key}@{_host(settings.gateway)}"
        self._secret = settings.app_secret.get_secret_value()
        self._session = settings.session.get_secret_value()
        self._client = httpx.Client(timeout=settings.timeout_seconds, transport=transport)
        self._sleep = sleep
        self._now = now
        self._last_call = float("-inf")
        self.calls = 0
        self.retries = 0

    def close(self) -> None:
        self._client.close()

    def call(self, method: str, params: dict[str, str], *, dataset: str) -> dict[str, Any]:
        """The response object of one TOP call; errors raise, call limits wait (bounded)."""

        def retrying(problem: str, wait: float) -> None:
            self.retries += 1

        return with_retries(
            lambda: self._attempt(method, params, dataset),
            self.settings,
            sleep=self._sleep,
            what=f"{self.name}: {method} for {dataset}",
            error=lambda message: ExportTransientError(message, dataset=dataset, source=self.name),
            on_retry=retrying,
        )

    def _attempt(self, method: str, params: dict[str, str], dataset: str) -> dict[str, Any] | Retry:
        """The response object, or how long to wait and what went wrong before a retry."""
        self._pace()
        form = {
            **params,
            "method": method,
            "app_key": self.settings.app_key or "",
            "session": self._session,
            "timestamp": top_time(self._now()),
            "v": "2.0",
            "format": "json",
            "simplify": "true",
            "sign_method": self.settings.sign_method,
        }
        form["sign"] = sign(form, self._secret, self.settings.sign_method)
        self.calls += 1
        backoff = random.uniform(0, 1.0)
        try:
            response = self._client.post(self.settings.gateway, data=form)
        except httpx.TransportError as exc:
            return Retry(type(exc).__name__, backoff)
        if response.status_code >= 500 or response.status_code == 429:
            return Retry(f"HTTP {response.status_code}", backoff)
        try:
            doc = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ExportFatalError(
                f"{self.name}: {method} for {dataset} answered HTTP {response.status_code}"
                " with a body that is not JSON",
                dataset=dataset,
                source=self.name,
            ) from None
        if not isinstance(doc, dict):
            raise ExportFatalError(
                f"{self.name}: {method} for {dataset} answered JSON that is not an object",
                dataset=dataset,
                source=self.name,
            )
        error = doc.get("error_response")
        if error is None:
            return unwrap(doc)
        return self._error(method, dataset, error)

    def _error(self, method: str, dataset: str, error: dict[str, Any]) -> Retry:
        code = _int(error.get("code"))
        sub_code = str(error.get("sub_code") or "") or None
        text = self._scrub(
            f"code {code} {error.get('msg') or ''}".strip()
            + (f", sub_code {sub_code}" if sub_code else "")
            + (f": {error['sub_msg']}" if error.get("sub_msg") else "")
        )
        where = f"{self.name}: {method} for {dataset}"
        kw: dict[str, Any] = {"dataset": dataset, "source": self.name}
        if code in LIMIT_CODES or (sub_code or "").startswith("accesscontrol.limited"):
            match = _BAN.search(str(error.get("sub_msg") or ""))
            ban = float(match.group(1)) if match else 1.0
            if ban > self.settings.max_ban_wait_seconds:
                raise TopLimitError(
                    f"{where} hit the app's call limit ({text}); the ban of {ban:.0f}s is longer"
                    f" than source.max_ban_wait_seconds ({self.settings.max_ban_wait_seconds:g}s)",
                    **kw,
                )
            return Retry(text, ban)
        if code in SESSION_CODES or "session" in (sub_code or ""):
            raise TopAuthError(
                f"{where} refused: the session is missing, invalid or expired ({text})."
                " The seller must authorise the app again and put the new session key in"
                " source.session",
                code=code,
                sub_code=sub_code,
                **kw,
            )
        if code in PERMISSION_CODES or (sub_code or "").startswith("isv.permission"):
            raise TopAuthError(
                f"{where} refused: the app lacks permission for {method} ({text})."
                " Apply for the API's permission package in the TOP console, then have the"
                " seller authorise the app again",
                code=code,
                sub_code=sub_code,
                **kw,
            )
        if code in TRANSIENT_CODES or (sub_code or "").startswith("isp."):
            return Retry(text, random.uniform(0, 2.0))
        hint = " (check source.app_secret and source.sign_method)" if code == 25 else ""
        raise TopCallError(f"{where} failed: {text}{hint}", code=code, sub_code=sub_code, **kw)

    def _scrub(self, text: str) -> str:
        # a gateway may echo parameters back; the secret and the session never go further
        for secret in (self._secret, self._session):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _pace(self) -> None:
        gap = 1.0 / self.settings.calls_per_second
        wait = self._last_call + gap - time.monotonic()
        if wait > 0:
            self._sleep(wait)
        self._last_call = time.monotonic()


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _host(url: str) -> str:
    return httpx.URL(url).host + (f":{httpx.URL(url).port}" if httpx.URL(url).port else "")
