"""The simulator's export API over a real loopback server, with httpx."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import orjson
import pytest

from simulator import ShopSpec, Simulator
from simulator.server import SimulatorServer, serve_process_args, truth_document

TOKEN = "sim-test-token"


@pytest.fixture(scope="module")
def normal() -> Iterator[tuple[Simulator, httpx.Client]]:
    sim = Simulator("normal", 0)
    with SimulatorServer(sim, token=TOKEN) as srv, _client(srv) as client:
        yield sim, client


def _client(srv: SimulatorServer, token: str = TOKEN) -> httpx.Client:
    return httpx.Client(
        base_url=srv.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def _params(since: datetime | None, until: datetime, **extra: object) -> dict[str, object]:
    params: dict[str, object] = {"until": until.isoformat(), **extra}
    if since is not None:
        params["since"] = since.isoformat()
    return params


def fetch_all(
    client: httpx.Client, dataset: str, since: datetime | None, until: datetime, limit: int
) -> list[bytes]:
    """Follow next_cursor to the end; return every item as its JSON bytes."""
    items: list[bytes] = []
    cursor = None
    for _ in range(10_000):
        params = _params(since, until, limit=limit)
        if cursor:
            params["cursor"] = cursor
        r = client.get(f"/v1/exports/{dataset}", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["dataset"] == dataset and len(body["items"]) <= limit
        items += [orjson.dumps(i) for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def test_server_binds_loopback_only() -> None:
    with pytest.raises(ValueError):
        SimulatorServer(Simulator("normal", 0, ShopSpec(skus=5, days=1)), host="0.0.0.0")


def test_same_seed_serves_the_same_bytes() -> None:
    first, second = (Simulator("normal", 5, ShopSpec(days=3)) for _ in range(2))
    since, until = first.clock.instant(40), first.clock.instant(50)
    pages = []
    for sim in (first, second):
        with SimulatorServer(sim, token=TOKEN) as srv, _client(srv) as client:
            r = client.get("/v1/exports/orders", params=_params(since, until, limit=5000))
            pages.append(r.content)
    assert pages[0] == pages[1] and len(orjson.loads(pages[0])["items"]) > 100


@pytest.mark.parametrize("limit", [37, 500, 1000, 5000])
def test_pagination_returns_every_record_exactly_once(
    normal: tuple[Simulator, httpx.Client], limit: int
) -> None:
    sim, client = normal
    since, until = sim.clock.instant(480), sim.clock.instant(520)
    items = fetch_all(client, "orders", since, until, limit)
    assert items == [orjson.dumps(r) for r in sim.records("orders", since, until)]
    assert len(set(items)) == len(items) > limit


def test_default_limit_and_since_less_pull(normal: tuple[Simulator, httpx.Client]) -> None:
    sim, client = normal
    r = client.get("/v1/exports/products", params=_params(None, sim.spec.end))
    assert r.status_code == 200
    assert len(r.json()["items"]) == len(sim.records("products", None, sim.spec.end))
    since, until = sim.clock.instant(300), sim.clock.instant(340)
    r = client.get("/v1/exports/orders", params=_params(since, until))
    assert len(r.json()["items"]) == 1000 and r.json()["next_cursor"]


def test_adjacent_windows_over_http_equal_one_window(
    normal: tuple[Simulator, httpx.Client],
) -> None:
    sim, client = normal
    a, b, c = (sim.clock.instant(h) for h in (100, 112, 124))
    b += timedelta(minutes=7)
    for dataset in ("orders", "traffic", "inventory", "keywords", "promotions"):
        split = fetch_all(client, dataset, a, b, 1000) + fetch_all(client, dataset, b, c, 1000)
        assert split == fetch_all(client, dataset, a, c, 1000), dataset


def test_auth_and_unknown_dataset(normal: tuple[Simulator, httpx.Client]) -> None:
    sim, client = normal
    params = _params(None, sim.spec.end)
    url = str(client.base_url)
    assert httpx.get(f"{url}/v1/exports/orders", params=params).status_code == 401
    wrong = httpx.get(
        f"{url}/v1/exports/orders", params=params, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401 and "error" in wrong.json()
    assert TOKEN not in wrong.text
    assert httpx.get(f"{url}/v1/_truth").status_code == 401
    missing = client.get("/v1/exports/refunds", params=params)
    assert missing.status_code == 404 and "refunds" in missing.json()["error"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"until": "yesterday"},
        {"until": "2026-11-01T00:00:00"},
        {"until": "2026-11-01T00:00:00+08:00", "since": "2026-11-02T00:00:00+08:00"},
        {"until": "2026-11-01T00:00:00+08:00", "limit": "0"},
        {"until": "2026-11-01T00:00:00+08:00", "limit": "5001"},
        {"until": "2026-11-01T00:00:00+08:00", "limit": "many"},
        {"until": "2026-11-01T00:00:00+08:00", "cursor": "not-a-cursor"},
    ],
)
def test_bad_parameters_are_400(
    normal: tuple[Simulator, httpx.Client], params: dict[str, str]
) -> None:
    _, client = normal
    r = client.get("/v1/exports/orders", params=params)
    assert r.status_code == 400 and r.json()["error"]


def test_cursor_is_bound_to_its_query(normal: tuple[Simulator, httpx.Client]) -> None:
    sim, client = normal
    since, until = sim.clock.instant(300), sim.clock.instant(340)
    cursor = client.get("/v1/exports/orders", params=_params(since, until, limit=10)).json()[
        "next_cursor"
    ]
    other = client.get(
        "/v1/exports/orders", params=_params(since, until + timedelta(hours=1), cursor=cursor)
    )
    assert other.status_code == 400 and "cursor" in other.json()["error"]
    traffic = client.get("/v1/exports/traffic", params=_params(since, until, cursor=cursor))
    assert traffic.status_code == 400
    # A cursor may be followed with another page size.
    again = client.get("/v1/exports/orders", params=_params(since, until, cursor=cursor, limit=3))
    assert again.status_code == 200 and len(again.json()["items"]) == 3


def test_normal_never_faults(normal: tuple[Simulator, httpx.Client]) -> None:
    sim, client = normal
    for h in range(1, sim.clock.hours + 1, 5):
        until = sim.clock.instant(h)
        for dataset in ("orders", "inventory"):
            r = client.get(
                f"/v1/exports/{dataset}", params=_params(until - timedelta(hours=1), until, limit=1)
            )
            assert r.status_code == 200, (h, r.status_code)


def test_export_outage_fails_every_retry_only_during_the_outage() -> None:
    sim = Simulator("export_outage", 0)
    gap = next(i for i in sim.truth(reviews=False) if i.details.get("kind") == "5xx")
    with SimulatorServer(sim, token=TOKEN) as srv, _client(srv) as client:
        during = _params(gap.start - timedelta(hours=48), gap.end, limit=100)
        codes = [client.get("/v1/exports/orders", params=during).status_code for _ in range(5)]
        assert all(code >= 500 for code in codes)
        later = _params(gap.start - timedelta(hours=47), gap.end + timedelta(hours=1))
        assert client.get("/v1/exports/orders", params=later).status_code == 200
        truth = client.get("/v1/_truth").json()
    assert truth == orjson.loads(orjson.dumps(truth_document(sim)))
    assert {f["kind"] for f in truth["faults"]} == {"5xx", "empty"}
    assert [i["alertname"] for i in truth["incidents"]].count("data_gap") == 2


def test_rate_limit_storm_is_finite_and_says_when_to_retry() -> None:
    sim = Simulator("rate_limited", 0)
    window = sim.fault_windows()[0]
    until = datetime.fromtimestamp(window.end_ts, sim.clock.tz)
    with SimulatorServer(sim, token=TOKEN) as srv, _client(srv) as client:
        params = _params(until - timedelta(hours=48), until, limit=5000)
        first = client.get("/v1/exports/traffic", params=params)
        second = client.get("/v1/exports/traffic", params=params)
        third = client.get("/v1/exports/traffic", params=params)
        assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
        assert int(first.headers["Retry-After"]) >= 1
        assert third.json()["items"]
        # A client paging through the storm meets it again on each new page, and gets through.
        items = []
        cursor = None
        for _ in range(100):
            p = dict(params, limit=500, **({"cursor": cursor} if cursor else {}))
            r = client.get("/v1/exports/orders", params=p)
            if r.status_code == 429:
                continue
            items += r.json()["items"]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
        assert len(items) == len(sim.records("orders", until - timedelta(hours=48), until))


def test_the_server_process_serves_the_same_shop_on_the_socket_it_is_handed() -> None:
    spec = ShopSpec(skus=8, visitors_per_day=2000, days=2)
    sim = Simulator("demo", 7, spec)
    with socket.create_server(("127.0.0.1", 0)) as listening:
        fd = listening.fileno()
        args = serve_process_args(fd, "demo", 7, TOKEN, spec)
        command = [sys.executable, "-m", "simulator.server", *args]
        process = subprocess.Popen(command, pass_fds=[fd])
        url = f"http://127.0.0.1:{listening.getsockname()[1]}"
    with process:
        try:
            until = sim.clock.instant(30)
            # asked at once: the request waits in the socket's backlog while the process starts
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with (
                httpx.Client(base_url=url, headers=headers, timeout=60) as there,
                SimulatorServer(sim, token=TOKEN) as here,
                _client(here) as local,
            ):
                served = fetch_all(there, "orders", None, until, 500)
                assert served and served == fetch_all(local, "orders", None, until, 500)
        finally:
            process.terminate()
