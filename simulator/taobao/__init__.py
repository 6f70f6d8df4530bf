"""The simulated shop as Taobao shows it: a TOP gateway and 生意参谋 export files."""

from __future__ import annotations

from typing import Any

from simulator.server import SimulatorServer
from simulator.simulation import Simulator
from simulator.taobao.exports import SYCM_SOURCE, write_exports
from simulator.taobao.gateway import TopCredentials, create_top_app, error_body
from simulator.taobao.signature import expected_sign

__all__ = [
    "SYCM_SOURCE",
    "TopCredentials",
    "create_top_app",
    "error_body",
    "expected_sign",
    "serve_top",
    "top_server",
    "write_exports",
]


def top_server(
    sim: Simulator,
    credentials: TopCredentials,
    *,
    port: int = 0,
    incidents: list[tuple[str, dict[str, Any]]] | None = None,
) -> SimulatorServer:
    """A loopback server of the TOP gateway; its gateway URL is base_url + '/router/rest'."""
    app = create_top_app(sim, credentials, incidents=incidents)
    return SimulatorServer(sim, port=port, app=app)


def serve_top(sim: Simulator, credentials: TopCredentials, port: int) -> None:
    """Serve the TOP gateway until interrupted (blocking); `shoppulse simulate --api taobao`."""
    import uvicorn

    config = uvicorn.Config(
        create_top_app(sim, credentials),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
    )
    uvicorn.Server(config).run()
