"""The export API (docs/export-api.md) over httpx: pages followed by cursor, bounded retries."""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from sources.base import ALL_DATASETS, JsonPage
from sources.errors import ExportFatalError, ExportTransientError
from sources.retry import Retry, with_retries
from sources.settings import SourceSettings

__all__ = ["HttpSource"]


def _safe_url(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, (parsed - datetime.now(UTC)).total_seconds()) if parsed else None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


class HttpSource:
    """The backend's export API (docs/export-api.md) over httpx, with bounded retries."""

    provides = ALL_DATASETS

    def __init__(
        self,
        settings: SourceSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str, str, float], None] | None = None,
    ) -> None:
        assert settings.base_url is not None
        self.settings = settings
        self.name = _safe_url(settings.base_url)
        token = settings.token.get_secret_value() if settings.token else ""
        self._client = httpx.Client(
            base_url=settings.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=settings.timeout_seconds,
            transport=transport,
        )
        self._sleep = sleep
        self._on_retry = on_retry
        self.retries = 0

    def close(self) -> None:
        self._client.close()

    def pages(self, dataset: str, since: datetime | None, until: datetime) -> Iterator[JsonPage]:
        """Every page of `dataset` in [since, until), following next_cursor until it is null."""
        params: dict[str, str | int] = {"until": _iso(until), "limit": self.settings.page_size}
        if since is not None:
            params["since"] = _iso(since)
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            query = dict(params, cursor=cursor) if cursor else params
            body = self._get(dataset, query)
            try:
                doc = orjson.loads(body)
                items = doc["items"]
                cursor = doc.get("next_cursor")
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise ExportFatalError(
                    f"{self.name}: export {dataset} returned a page that is not"
                    " {'items': [...], 'next_cursor': ...}",
                    dataset=dataset,
                    source=self.name,
                ) from None
            if not isinstance(items, list):
                raise ExportFatalError(
                    f"{self.name}: export {dataset} page has no items list",
                    dataset=dataset,
                    source=self.name,
                )
            if items:
                yield JsonPage(text=body.decode("utf-8"), count=len(items))
            if not cursor:
                return
            if cursor in seen:
                raise ExportFatalError(
                    f"{self.name}: export {dataset} returned the same next_cursor twice",
                    dataset=dataset,
                    source=self.name,
                )
            seen.add(cursor)

    def _get(self, dataset: str, params: dict[str, str | int]) -> bytes:
        path = f"/v1/exports/{dataset}"

        def attempt() -> bytes | Retry:
            try:
                response = self._client.get(path, params=params)
            except httpx.TransportError as exc:
                return Retry(f"{type(exc).__name__}")
            status = response.status_code
            if status == 200:
                return response.content
            if status == 401 or status == 403:
                raise ExportFatalError(
                    f"{self.name}: export {dataset} refused with HTTP {status}:"
                    " the token was not accepted (check source.token)",
                    dataset=dataset,
                    source=self.name,
                )
            if status == 404:
                raise ExportFatalError(
                    f"{self.name}: export {dataset} not found (HTTP 404):"
                    " the backend does not serve this dataset",
                    dataset=dataset,
                    source=self.name,
                )
            if status == 429 or status >= 500:
                return Retry(f"HTTP {status}", _retry_after(response))
            detail = response.text[:200]
            with contextlib.suppress(ValueError, AttributeError):
                detail = str(response.json().get("error", detail))
            raise ExportFatalError(
                f"{self.name}: export {dataset} rejected with HTTP {status}: {detail}",
                dataset=dataset,
                source=self.name,
            )

        def retrying(problem: str, wait: float) -> None:
            self.retries += 1
            if self._on_retry is not None:
                self._on_retry(dataset, problem, wait)

        return with_retries(
            attempt,
            self.settings,
            sleep=self._sleep,
            what=f"{self.name}: export {dataset}",
            error=lambda message: ExportTransientError(message, dataset=dataset, source=self.name),
            on_retry=retrying,
        )
