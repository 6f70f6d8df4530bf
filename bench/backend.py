"""The seeded simulator serving its export API from a separate process, for the benchmarks."""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["TOKEN", "Backend", "serving", "shop_spec"]

TOKEN = "bench-token"


def shop_spec(size: str, days: int, skus: int | None = None) -> Any:
    """The simulated shop of a benchmark: `mid` (~5,000 paid lines an hour) or `small`."""
    from dataclasses import replace

    from simulator import MID_SIZE, ShopSpec

    base = MID_SIZE if size == "mid" else ShopSpec(skus=40, visitors_per_day=60_000)
    spec = replace(base, days=days)
    return replace(spec, skus=skus) if skus else spec


@dataclass(frozen=True)
class Backend:
    """Where the simulator answers, and the instant its history starts."""

    base_url: str
    start: datetime


def _serve(size: str, days: int, skus: int | None, seed: int, ports: Any, stop: Any) -> None:
    from simulator import Simulator
    from simulator.server import SimulatorServer

    sim = Simulator("normal", seed, shop_spec(size, days, skus))
    with SimulatorServer(sim, token=TOKEN) as server:
        ports.put((server.base_url, sim.spec.start.isoformat()))
        stop.wait()


@contextmanager
def serving(size: str, days: int, *, skus: int | None = None, seed: int = 0) -> Iterator[Backend]:
    """Serve a seeded `normal` shop on 127.0.0.1 from its own process (its own interpreter,
    so generating pages does not share the measured process's GIL)."""
    ctx = mp.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    process = ctx.Process(target=_serve, args=(size, days, skus, seed, ports, stop), daemon=True)
    process.start()
    try:
        while True:
            try:
                base_url, start = ports.get(timeout=1)
                break
            except queue.Empty:
                if not process.is_alive():
                    raise RuntimeError("the simulator process ended before serving") from None
        yield Backend(base_url, datetime.fromisoformat(start).astimezone(UTC))
    finally:
        stop.set()
        process.join(10)
        if process.is_alive():
            process.terminate()
            process.join(5)
