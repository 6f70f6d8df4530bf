"""A paced GraphQL Admin API client: one POST per query, leaky-bucket pacing, bounded retries.

Shopify reports its calculated-query-cost bucket in every response
(`extensions.cost.throttleStatus`: maximumAvailable, currentlyAvailable, restoreRate). The
client keeps the last status, waits before a query whose requested cost the bucket cannot
cover yet, and on a `THROTTLED` error waits for the restore rate to refill what the query
asked for, then retries.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from sources.retry import Retry, with_retries
from sources.settings import SourceSettings
from sources.shopify.errors import ShopifyAccessError, ShopifyQueryError, ShopifyThrottledError

__all__ = ["Bucket", "GraphQLClient"]

_SCOPE = re.compile(r"`?(read_[a-z_]+|write_[a-z_]+)`?")


@dataclass
class Bucket:
    """The last throttle status Shopify reported, and when."""

    maximum: float = 1000.0
    available: float = 1000.0
    restore_rate: float = 50.0
    at: float = 0.0

    def now_available(self, now: float) -> float:
        """Points available at `now`, refilled at the restore rate since the last report."""
        return min(self.maximum, self.available + (now - self.at) * self.restore_rate)

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until the bucket holds `cost` points (0 when it already does)."""
        missing = min(cost, self.maximum) - self.now_available(now)
        return max(0.0, missing / self.restore_rate) if self.restore_rate > 0 else 0.0


class GraphQLClient:
    """POSTs GraphQL to /admin/api/{version}/graphql.json with the shop's access token."""

    def __init__(
        self,
        settings: SourceSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        assert settings.shop is not None and settings.access_token is not None
        base = settings.base_url or f"https://{settings.shop}"
        self.endpoint = f"/admin/api/{settings.api_version}/graphql.json"
        self.name = f"shopify:{settings.shop}"
        self.settings = settings
        self._client = httpx.Client(
            base_url=base,
            headers={
                "X-Shopify-Access-Token": settings.access_token.get_secret_value(),
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            timeout=settings.timeout_seconds,
            transport=transport,
        )
        # bulk results sit on signed storage URLs: fetched without the token header
        self._plain = httpx.Client(timeout=settings.timeout_seconds, transport=transport)
        self._sleep = sleep
        self.bucket = Bucket()
        self.requests = 0
        self.throttled = 0
        self.throttle_wait_seconds = 0.0

    def close(self) -> None:
        self._client.close()
        self._plain.close()

    def download(self, url: str, dataset: str) -> httpx.Response:
        """GET a bulk operation's result file as a stream (the URL is signed; no token)."""
        response = self._plain.send(httpx.Request("GET", url), stream=True)
        if response.status_code != 200:
            response.close()
            raise ShopifyQueryError(
                f"{self.name}: bulk result download for {dataset} failed with HTTP"
                f" {response.status_code}",
                dataset=dataset,
                source=self.name,
            )
        return response

    def query(
        self, text: str, variables: dict[str, Any], *, dataset: str, cost: float
    ) -> dict[str, Any]:
        """The `data` of one query, paced to the bucket; `cost` is its requested cost."""
        body = orjson.dumps({"query": text, "variables": variables})

        def attempt() -> dict[str, Any] | Retry:
            self._pace(cost)
            problem, wait = self._once(body, dataset, cost)
            if problem is None:
                assert wait is None
                return self._data
            return Retry(problem, wait)

        def retrying(problem: str, wait: float) -> None:
            if problem == "THROTTLED":
                self.throttle_wait_seconds += wait

        return with_retries(
            attempt,
            self.settings,
            sleep=self._sleep,
            what=f"{self.name}: {dataset} query",
            error=lambda message: ShopifyThrottledError(message, dataset=dataset, source=self.name),
            on_retry=retrying,
        )

    def _pace(self, cost: float) -> None:
        wait = self.bucket.wait_for(cost, time.monotonic())
        if wait > 0:
            self.throttle_wait_seconds += wait
            self._sleep(wait)

    def _once(self, body: bytes, dataset: str, cost: float) -> tuple[str | None, float | None]:
        """Send once: (None, None) with self._data set, or (problem, wait or None) to retry."""
        self.requests += 1
        try:
            response = self._client.post(self.endpoint, content=body)
        except httpx.TransportError as exc:
            return type(exc).__name__, None
        status = response.status_code
        if status in (401, 403):
            raise ShopifyAccessError(
                f"{self.name}: {dataset} refused with HTTP {status}: the access token was not"
                " accepted (check source.access_token and that the custom app is installed)",
                dataset=dataset,
                source=self.name,
            )
        if status >= 500:
            return f"HTTP {status}", None
        try:
            doc = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ShopifyQueryError(
                f"{self.name}: {dataset} answered HTTP {status} with a body that is not JSON",
                dataset=dataset,
                source=self.name,
            ) from None
        self._read_cost(doc)
        errors = doc.get("errors") if isinstance(doc, dict) else None
        if errors:
            codes = [_code(e) for e in errors] if isinstance(errors, list) else []
            if "THROTTLED" in codes or status == 429:
                self.throttled += 1
                return "THROTTLED", max(0.05, self.bucket.wait_for(cost, time.monotonic()))
            if "ACCESS_DENIED" in codes:
                scopes = sorted(set(_SCOPE.findall(orjson.dumps(errors).decode())))
                raise ShopifyAccessError(
                    f"{self.name}: {dataset} needs the access scope"
                    f" {', '.join(scopes) or '(unnamed)'}: grant it to the custom app",
                    dataset=dataset,
                    source=self.name,
                )
            raise ShopifyQueryError(
                f"{self.name}: {dataset} query failed: {_messages(errors)}",
                dataset=dataset,
                source=self.name,
            )
        if status != 200 or not isinstance(doc.get("data"), dict):
            raise ShopifyQueryError(
                f"{self.name}: {dataset} answered HTTP {status} without data",
                dataset=dataset,
                source=self.name,
            )
        self._data: dict[str, Any] = doc["data"]
        return None, None

    def _read_cost(self, doc: Any) -> None:
        try:
            status = doc["extensions"]["cost"]["throttleStatus"]
            self.bucket = Bucket(
                float(status["maximumAvailable"]),
                float(status["currentlyAvailable"]),
                float(status["restoreRate"]),
                time.monotonic(),
            )
        except (KeyError, TypeError, ValueError):
            pass


def _code(error: Any) -> str:
    if isinstance(error, dict):
        ext = error.get("extensions")
        if isinstance(ext, dict) and isinstance(ext.get("code"), str):
            return str(ext["code"])
    return ""


def _messages(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
        )[:300]
    return str(errors)[:300]
