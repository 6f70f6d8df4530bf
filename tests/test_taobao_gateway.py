"""The TOP client against the simulator's TOP gateway on loopback: envelopes, limits, paging."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from simulator import ShopSpec, Simulator
from simulator.taobao import TopCredentials, error_body, top_server
from sources import ExportTransientError, SourceSettings
from sources.taobao import TopAuthError, TopCallError, TopClient, TopLimitError
from sources.taobao.client import top_time, unwrap
from sources.taobao.trades import INCREMENT_METHOD, fetch_trades, windows

SECRET = "app-secret-never-shown"
SESSION = "seller-session-never-shown"
CREDS = TopCredentials("12345678", SECRET, SESSION)
SIM = Simulator("normal", 5, ShopSpec(days=3, skus=8, visitors_per_day=6000))


def settings(gateway: str, **over: Any) -> SourceSettings:
    values: dict[str, Any] = {
        "kind": "taobao",
        "app_key": CREDS.app_key,
        "app_secret": SECRET,
        "session": SESSION,
        "gateway": gateway,
        "exports_dir": "unused",
        "calls_per_second": 1000,
        **over,
    }
    return SourceSettings.model_validate(values)


class Recorder(httpx.HTTPTransport):
    """The real transport, remembering each call's form parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(dict(httpx.QueryParams(request.content.decode())))
        return super().handle_request(request)


@pytest.fixture
def gateway(request: pytest.FixtureRequest) -> Iterator[str]:
    incidents = getattr(request, "param", None)
    with top_server(SIM, CREDS, incidents=incidents) as server:
        yield f"{server.base_url}/router/rest"


def client(gateway: str, **over: Any) -> tuple[TopClient, Recorder, list[float]]:
    slept: list[float] = []
    recorder = Recorder()
    top = TopClient(settings(gateway, **over), transport=recorder, sleep=slept.append)
    return top, recorder, slept


def window_params() -> dict[str, str]:
    start = SIM.spec.start + timedelta(hours=12)
    return {
        "fields": "tid",
        "start_modified": start.strftime("%Y-%m-%d %H:%M:%S"),
        "end_modified": (start + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S"),
        "page_no": "1",
        "page_size": "5",
    }


def test_signed_call_carries_the_public_parameters(gateway: str) -> None:
    top, recorder, _ = client(gateway)
    body = top.call(INCREMENT_METHOD, window_params(), dataset="orders")
    assert body["total_results"] > 0 and len(body["trades"]) == 5
    sent = recorder.calls[0]
    assert sent["v"] == "2.0" and sent["format"] == "json" and sent["simplify"] == "true"
    assert sent["sign_method"] == "hmac-sha256" and len(sent["sign"]) == 64
    # TOP wants China time: the recorded timestamp is UTC+8 wall time
    assert len(sent["timestamp"]) == 19 and sent["timestamp"][10] == " "


@pytest.mark.parametrize("method", ["md5", "hmac"])
def test_other_sign_methods_are_accepted(gateway: str, method: str) -> None:
    top, _, _ = client(gateway, sign_method=method)
    assert top.call(INCREMENT_METHOD, window_params(), dataset="orders")["trades"]


def test_a_bad_signature_gets_the_documented_envelope(gateway: str) -> None:
    top, _, _ = client(gateway, app_secret="not-the-secret")
    with pytest.raises(TopCallError) as caught:
        top.call(INCREMENT_METHOD, window_params(), dataset="orders")
    assert caught.value.code == 25
    assert "Invalid signature" in str(caught.value) and "source.app_secret" in str(caught.value)
    assert "not-the-secret" not in str(caught.value)
    raw = httpx.post(
        gateway,
        data={
            **window_params(),
            "method": INCREMENT_METHOD,
            "app_key": CREDS.app_key,
            "session": SESSION,
            "timestamp": "2026-11-01 10:00:00",
            "v": "2.0",
            "sign_method": "md5",
            "sign": "0" * 32,
        },
    ).json()
    assert raw["error_response"]["code"] == 25
    assert set(raw["error_response"]) >= {"code", "msg", "request_id"}


EXPIRED = error_body(27, "Invalid session", "invalid-sessionkey", f"SessionKey {SESSION} 非法")
NO_PERMISSION = error_body(
    11, "Insufficient isv permissions", "isv.permission-api-package-limit", "scope"
)


@pytest.mark.parametrize(
    ("gateway", "sub_code", "advice"),
    [
        ([("*", EXPIRED)], "invalid-sessionkey", "authorise the app again"),
        ([("*", NO_PERMISSION)], "isv.permission-api-package-limit", "permission package"),
    ],
    indirect=["gateway"],
)
def test_session_and_permission_errors_fail_at_once(
    gateway: str, sub_code: str, advice: str
) -> None:
    top, recorder, slept = client(gateway)
    with pytest.raises(TopAuthError) as caught:
        top.call(INCREMENT_METHOD, window_params(), dataset="orders")
    message = str(caught.value)
    assert len(recorder.calls) == 1 and slept == []
    assert caught.value.sub_code == sub_code and sub_code in message and advice in message
    assert SECRET not in message and SESSION not in message


BAN = error_body(
    7,
    "App Call Limited",
    "accesscontrol.limited-by-app-access-count",
    "This ban will last for 3 more seconds",
)


@pytest.mark.parametrize("gateway", [[(INCREMENT_METHOD, BAN)]], indirect=True)
def test_a_call_limit_waits_the_ban_then_retries(gateway: str) -> None:
    top, recorder, slept = client(gateway)
    assert top.call(INCREMENT_METHOD, window_params(), dataset="orders")["trades"]
    assert len(recorder.calls) == 2 and 3.0 in slept


@pytest.mark.parametrize("gateway", [[(INCREMENT_METHOD, BAN)]], indirect=True)
def test_a_ban_longer_than_the_bound_is_not_waited(gateway: str) -> None:
    top, recorder, slept = client(gateway, max_ban_wait_seconds=2)
    with pytest.raises(TopLimitError, match=r"longer than source\.max_ban_wait_seconds"):
        top.call(INCREMENT_METHOD, window_params(), dataset="orders")
    assert len(recorder.calls) == 1 and 3.0 not in slept


ISP = error_body(15, "Remote service error", "isp.top-remote-connection-timeout")


@pytest.mark.parametrize("gateway", [[("*", ISP)] * 2], indirect=True)
def test_platform_trouble_is_retried(gateway: str) -> None:
    top, recorder, _ = client(gateway)
    assert top.call(INCREMENT_METHOD, window_params(), dataset="orders")["trades"]
    assert len(recorder.calls) == 3


@pytest.mark.parametrize("gateway", [[("*", ISP)] * 3], indirect=True)
def test_platform_trouble_is_bounded(gateway: str) -> None:
    top, recorder, _ = client(gateway, max_attempts=3)
    with pytest.raises(ExportTransientError, match="after 3 attempts"):
        top.call(INCREMENT_METHOD, window_params(), dataset="orders")
    assert len(recorder.calls) == 3


def test_calls_are_paced_under_the_limit(gateway: str) -> None:
    top, _, slept = client(gateway, calls_per_second=2)
    for _ in range(3):
        top.call(INCREMENT_METHOD, window_params(), dataset="orders")
    assert len([s for s in slept if 0 < s <= 0.5]) == 2


def test_windows_are_at_most_one_day() -> None:
    start = SIM.spec.start
    cut = windows(start, start + timedelta(days=2, hours=5))
    assert [b - a for a, b in cut] == [timedelta(days=1), timedelta(days=1), timedelta(hours=5)]
    assert cut[0][0] == start and cut[-1][1] == start + timedelta(days=2, hours=5)


def test_trades_are_paged_from_the_last_page_back(gateway: str) -> None:
    top, recorder, _ = client(gateway)
    since = SIM.spec.start + timedelta(hours=10)
    until = since + timedelta(hours=30)
    trades = [t for page in fetch_trades(top, since, until) for t in page]
    first = [
        c for c in recorder.calls if c["start_modified"] == recorder.calls[0]["start_modified"]
    ]
    pages = [int(c["page_no"]) for c in first[1:]]
    assert first[0]["page_size"] == "1" and first[0]["fields"] == "tid"
    assert pages == sorted(pages, reverse=True) and pages[-1] == 1 and len(pages) > 1
    assert len({c["start_modified"] for c in recorder.calls}) == 2  # a 30 h range: two windows
    expected = {r["order_id"] for r in SIM.records("orders", since, until)}
    assert {f"T{t['tid']:08d}" for t in trades} == expected


def test_unsimplified_responses_are_read_alike(gateway: str) -> None:
    top, _, _ = client(gateway)
    params = {
        **window_params(),
        "method": INCREMENT_METHOD,
        "app_key": CREDS.app_key,
        "session": SESSION,
        "timestamp": "2026-11-01 10:00:00",
        "v": "2.0",
        "format": "json",
        "sign_method": "md5",
    }
    from sources.taobao.client import top_list
    from sources.taobao.signature import sign

    doc = httpx.post(gateway, data={**params, "sign": sign(params, SECRET, "md5")}).json()
    assert "trades_sold_increment_get_response" in doc
    plain = unwrap(doc)
    simple = top.call(INCREMENT_METHOD, window_params(), dataset="orders")
    assert top_list(plain["trades"], "trade") == top_list(simple["trades"], "trade")


def test_an_outage_fails_the_run_at_its_hour_and_not_a_later_lookback() -> None:
    sim = Simulator("demo", 7)
    (outage,) = [w for w in sim.fault_windows() if w.kind == "5xx"]
    at = datetime.fromtimestamp(outage.end_ts, UTC)  # a run whose clock stands in the outage

    def fetch(top: TopClient, start: datetime, end: datetime) -> dict[str, Any]:
        params = {**window_params(), "start_modified": top_time(start),
                  "end_modified": top_time(end - timedelta(seconds=1))}  # fmt: skip
        return top.call(INCREMENT_METHOD, params, dataset="orders")

    with top_server(sim, CREDS) as server:
        top, _, _ = client(f"{server.base_url}/router/rest", max_attempts=2)
        with pytest.raises(ExportTransientError, match="code 15"):
            fetch(top, at - timedelta(hours=1), at)
        # a day later: the run's newest window is served, and so is the lookback window
        # whose end falls in the outage
        later = at + timedelta(days=1)
        assert fetch(top, later - timedelta(hours=1), later)["trades"]
        assert fetch(top, at - timedelta(days=1), at)["trades"]
