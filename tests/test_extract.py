"""The export client against a real loopback backend: pagination, retries, fatal errors."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest

from flows.errors import ExportFatalError, ExportTransientError
from flows.settings import SourceSettings
from sources import HttpSource, JsonPage
from tests.backend import TOKEN, Backend, serve

UNTIL = datetime(2026, 11, 12, tzinfo=UTC)


def traffic(n: int) -> list[dict[str, object]]:
    return [
        {
            "hour": "2026-11-11T00:00:00+08:00",
            "source": "search",
            "sku_id": f"SKU{i:04d}",
            "visitors": i,
            "page_views": i,
            "bounces": 0,
            "add_to_cart": 0,
            "favorites": 0,
        }
        for i in range(n)
    ]


@pytest.fixture
def backend() -> Iterator[Backend]:
    with serve(Backend(records={"traffic": traffic(25)})) as b:
        yield b


def client(backend: Backend, sleeps: list[float] | None = None, **kw: object) -> HttpSource:
    settings = SourceSettings(base_url=backend.base_url, token=TOKEN, page_size=10, **kw)
    recorded = sleeps if sleeps is not None else []
    return HttpSource(settings, sleep=recorded.append)


def items(pages: list[JsonPage]) -> list[dict[str, object]]:
    return [item for page in pages for item in orjson.loads(page.text)["items"]]


def test_follows_cursor_through_every_page(backend: Backend) -> None:
    pages = list(client(backend).pages("traffic", None, UNTIL))
    assert [p.count for p in pages] == [10, 10, 5]
    assert [i["sku_id"] for i in items(pages)] == [f"SKU{i:04d}" for i in range(25)]
    first = backend.requests[0]
    assert first["until"] == UNTIL.isoformat() and first["limit"] == "10"
    assert "since" not in first and "cursor" not in first
    assert backend.requests[1]["cursor"] == "c10"


def test_429_honours_retry_after_then_succeeds(backend: Backend) -> None:
    backend.faults.append(("traffic", 429, {"Retry-After": "7"}, '{"error": "slow down"}'))
    sleeps: list[float] = []
    pages = list(client(backend, sleeps).pages("traffic", None, UNTIL))
    assert sleeps == [7.0]
    assert len(items(pages)) == 25


def test_503_and_reset_are_retried_with_bounded_backoff(backend: Backend) -> None:
    backend.faults += [("traffic", 503, {}, "{}"), ("traffic", 502, {}, "{}")]
    sleeps: list[float] = []
    pages = list(client(backend, sleeps).pages("traffic", None, UNTIL))
    assert len(items(pages)) == 25
    assert len(sleeps) == 2 and all(0 <= s <= 30 for s in sleeps)


def test_gives_up_after_max_attempts(backend: Backend) -> None:
    backend.faults += [("traffic", 503, {}, "{}")] * 5
    sleeps: list[float] = []
    with pytest.raises(ExportTransientError, match="export traffic failed after 3 attempts"):
        list(client(backend, sleeps, max_attempts=3).pages("traffic", None, UNTIL))
    assert len(sleeps) == 2


def test_gives_up_when_retry_after_exceeds_the_time_budget(backend: Backend) -> None:
    backend.faults.append(("traffic", 429, {"Retry-After": "600"}, "{}"))
    with pytest.raises(ExportTransientError, match="HTTP 429"):
        list(client(backend, max_retry_seconds=60).pages("traffic", None, UNTIL))


def test_bad_token_is_fatal_and_never_printed(backend: Backend) -> None:
    settings = SourceSettings(base_url=backend.base_url, token="wrong-s3cret", page_size=10)
    with pytest.raises(ExportFatalError) as caught:
        list(HttpSource(settings, sleep=lambda s: None).pages("traffic", None, UNTIL))
    message = str(caught.value)
    assert "401" in message and "traffic" in message and backend.base_url in message
    assert "wrong-s3cret" not in message and TOKEN not in message
    assert len(backend.requests) == 1  # no retry


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (("traffic", 400, {}, '{"error": "since must be before until"}'), "HTTP 400: since must"),
        (("nosuch", 404, {}, "{}"), "not found"),
    ],
)
def test_client_errors_are_fatal(backend: Backend, fault: tuple, expected: str) -> None:
    dataset = fault[0]
    if fault[1] == 400:
        backend.faults.append(fault)
    with pytest.raises(ExportFatalError, match=expected):
        list(client(backend).pages(dataset, None, UNTIL))
    assert len(backend.requests) == 1


def test_connection_refused_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = SourceSettings(base_url=f"http://127.0.0.1:{port}", token=TOKEN, max_attempts=2)
    with pytest.raises(ExportTransientError, match="ConnectError"):
        list(HttpSource(settings, sleep=lambda s: None).pages("orders", None, UNTIL))
