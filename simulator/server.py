"""The export API of DESIGN §3 over the simulator, on 127.0.0.1 (Starlette on uvicorn)."""

from __future__ import annotations

import hmac
import json
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from types import TracebackType
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator import cursor as cursors
from simulator.datasets import DATASETS
from simulator.errors import BadRequest
from simulator.simulation import Simulator
from simulator.spec import ShopSpec

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SimulatorServer",
    "create_app",
    "serve",
    "serve_process_args",
]

DEFAULT_LIMIT = 1000
MAX_LIMIT = 5000
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_ATTEMPTS_KEPT = 100_000


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _instant(params: dict[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    # A '+' left unescaped in a query string arrives as a space.
    text = raw.strip().replace(" ", "+")
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(f"{name} is not an ISO-8601 timestamp: {raw!r}") from exc
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadRequest(f"{name} must carry a UTC offset: {raw!r}")
    return value


def _limit(params: dict[str, str]) -> int:
    raw = params.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError as exc:
        raise BadRequest(f"limit must be an integer, got {raw!r}") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


def create_app(sim: Simulator, token: str) -> Starlette:
    """A Starlette app serving `sim` with bearer-token auth, pagination and scenario faults."""
    expected = f"Bearer {token}".encode()
    attempts: dict[tuple[str, ...], int] = {}
    lock = threading.Lock()
    shop = f"{sim.scenario.name}/{sim.seed}/{sim.spec!r}"

    def authorized(request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, expected)

    def unauthorized() -> Response:
        return _json(
            401, {"error": "invalid or missing bearer token"}, {"WWW-Authenticate": "Bearer"}
        )

    async def exports(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        dataset = request.path_params["dataset"]
        if dataset not in DATASETS:
            return _json(404, {"error": f"unknown dataset {dataset!r}"})
        params = dict(request.query_params)
        try:
            since = _instant(params, "since")
            until = _instant(params, "until")
            if until is None:
                raise BadRequest("until is required")
            if since is not None and since > until:
                raise BadRequest("since must not be after until")
            limit = _limit(params)
            query = cursors.query_hash(
                shop, dataset, "" if since is None else repr(since.timestamp()),
                repr(until.timestamp()),
            )  # fmt: skip
            token_in = params.get("cursor") or ""
            offset = cursors.decode(token_in, query) if token_in else 0
        except BadRequest as exc:
            return _json(400, {"error": str(exc)})
        key = (dataset, params.get("since", ""), params["until"], token_in, str(limit))
        with lock:
            if len(attempts) > _ATTEMPTS_KEPT:
                attempts.clear()
            attempt = attempts.get(key, 0)
            attempts[key] = attempt + 1
        fault = sim.fault(dataset, since, until, attempt)
        if fault is not None:
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return _json(fault.status, {"error": fault.message}, headers)
        rows, more = sim.page(dataset, since, until, offset, limit)
        next_cursor = cursors.encode(offset + len(rows), query) if more else None
        body = b"".join(
            (
                b'{"dataset":',
                orjson.dumps(dataset),
                b',"items":[',
                b",".join(rows),
                b'],"next_cursor":',
                orjson.dumps(next_cursor),
                b"}",
            )
        )
        return Response(body, 200, media_type="application/json")

    async def truth(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        return _json(200, truth_document(sim))

    return Starlette(
        routes=[
            Route("/v1/exports/{dataset}", exports, methods=["GET"]),
            Route("/v1/_truth", truth, methods=["GET"]),
        ]
    )


def truth_document(sim: Simulator) -> dict[str, Any]:
    """The ground truth as served at /v1/_truth."""
    clock = sim.clock
    return {
        "scenario": sim.scenario.name,
        "seed": sim.seed,
        "timezone": sim.spec.timezone,
        "start": clock.instant(0).isoformat(),
        "end": sim.spec.end.isoformat(),
        "incidents": [i.to_json() for i in sim.truth()],
        "defects": [d.to_json() for d in sim.defects()],
        "faults": [
            {
                "kind": w.kind,
                "until_after": clock.iso(w.start_ts),
                "until_through": clock.iso(w.end_ts),
                "rejects": w.rejects if w.kind == "429" else None,
                "retry_after": w.retry_after if w.kind == "429" else None,
            }
            for w in sim.fault_windows()
        ]
        + [
            {"kind": "empty", "until_after": clock.iso(a), "until_through": clock.iso(b)}
            for a, b in sim.stale_windows()
        ],
    }


def _check_host(host: str) -> None:
    if host not in LOOPBACK:
        raise ValueError(f"the simulator binds to loopback only, not {host!r}")


class SimulatorServer:
    """Runs the export API (or another `app` over the simulator, such as its TOP gateway) in a
    background thread: `with SimulatorServer(sim) as srv: ...`."""

    def __init__(
        self,
        sim: Simulator,
        token: str = "test-token",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        app: Starlette | None = None,
    ) -> None:
        _check_host(host)
        self._app = app
        self.sim = sim
        self.token = token
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Where the API answers, e.g. http://127.0.0.1:54321."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def app(self) -> Starlette:
        """The ASGI app this server runs: the one it was given (e.g. the TOP gateway), else
        the export API."""
        return self._app or create_app(self.sim, self.token)

    def start(self, timeout: float = 10.0) -> None:
        """Start serving and wait until the socket is bound."""
        config = uvicorn.Config(
            self.app(),
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="simulator-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError(f"simulator server did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    scenario: str = "normal",
    seed: int = 0,
    port: int = 8765,
    token: str = "",
    *,
    host: str = "127.0.0.1",
    spec: ShopSpec | None = None,
) -> None:
    """Serve a scenario until interrupted (blocking); the `shoppulse simulate` command."""
    if not token:
        raise ValueError("a bearer token is required to serve the simulator")
    _check_host(host)
    sim = Simulator(scenario, seed, spec)
    print(
        f"simulator: scenario {scenario}, seed {seed}, {sim.clock.instant(0).isoformat()} to "
        f"{sim.spec.end.isoformat()}, serving http://{host}:{port}",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        create_app(sim, token), host=host, port=port, log_level="warning", lifespan="off"
    )
    uvicorn.Server(config).run()


def serve_process_args(
    fd: int, scenario: str, seed: int, token: str, spec: ShopSpec | None = None
) -> list[str]:
    """The arguments of `python -m simulator.server` that serve this shop's export API on the
    listening loopback socket `fd` (inherited): the caller knows the port before the process
    starts, and requests made meanwhile wait in the socket's backlog."""
    shape = None if spec is None else {**asdict(spec), "start": spec.start.isoformat()}
    shop = {"scenario": scenario, "seed": seed, "token": token, "spec": shape}
    return [str(fd), json.dumps(shop)]


def _serve_process(argv: Sequence[str]) -> None:
    """Serve on the inherited socket until terminated (SIGTERM or SIGINT)."""
    sock = socket.socket(fileno=int(argv[0]))
    shop = json.loads(argv[1])
    shape = shop["spec"]
    spec = (
        None
        if shape is None
        else ShopSpec(**{**shape, "start": datetime.fromisoformat(shape["start"])})
    )
    sim = Simulator(shop["scenario"], shop["seed"], spec)
    config = uvicorn.Config(
        create_app(sim, shop["token"]), log_level="warning", access_log=False, lifespan="off"
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    _serve_process(sys.argv[1:])
