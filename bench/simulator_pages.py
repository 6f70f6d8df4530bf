"""Pages per second the simulator's export API serves (`python -m bench.simulator_pages`)."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import httpx
import orjson

from simulator import MID_SIZE, Simulator
from simulator.server import SimulatorServer

TOKEN = "bench-token"


def fetch(client: httpx.Client, dataset: str, params: dict[str, str]) -> tuple[int, int, int]:
    """Follow one window to its end; return (pages, items, bytes)."""
    pages = items = size = 0
    cursor = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        r = client.get(f"/v1/exports/{dataset}", params=query)
        r.raise_for_status()
        # orjson keeps the client's parsing from dominating what is measured.
        body = orjson.loads(r.content)
        pages += 1
        items += len(body["items"])
        size += len(r.content)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages, items, size


def main() -> None:
    """Serve a mid-size shop on loopback and page through a lookback window, cold then warm."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="normal")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skus", type=int, default=MID_SIZE.skus)
    parser.add_argument("--visitors-per-day", type=int, default=MID_SIZE.visitors_per_day)
    parser.add_argument("--hours", type=int, default=48, help="window length (a lookback)")
    parser.add_argument("--end-hour", type=int, default=14 * 24, help="window end, hour index")
    parser.add_argument("--limit", type=int, default=5000)
    parser.add_argument("--dataset", default="orders")
    args = parser.parse_args()

    spec = replace(MID_SIZE, skus=args.skus, visitors_per_day=args.visitors_per_day)
    t = time.perf_counter()
    sim = Simulator(args.scenario, args.seed, spec)
    built = time.perf_counter() - t
    lines = sim.timeline.lines.sum() / sim.clock.hours
    print(
        f"shop: {spec.skus} SKUs, {spec.visitors_per_day:,} visitors/day, {spec.days} days; "
        f"built in {built:.2f} s; {lines:,.0f} paid order lines/hour on average"
    )
    since = sim.clock.instant(args.end_hour - args.hours)
    # The simulator alone first (a fresh one, so "cold" is cold), then the same over HTTP.
    alone = Simulator(args.scenario, args.seed, spec)
    for label in ("cold", "warm"):
        t = time.perf_counter()
        pages = offset = 0
        more = True
        while more:
            rows, more = alone.page(
                args.dataset, since, sim.clock.instant(args.end_hour), offset, args.limit
            )
            offset += len(rows)
            pages += 1
        took = time.perf_counter() - t
        print(
            f"in-process {label}: {pages} pages, {offset:,} records in {took:.2f} s = "
            f"{pages / took:.1f} pages/s"
        )
    del alone
    until = sim.clock.instant(args.end_hour)
    params = {"since": since.isoformat(), "until": until.isoformat(), "limit": str(args.limit)}
    with (
        SimulatorServer(sim, token=TOKEN) as srv,
        httpx.Client(
            base_url=srv.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120
        ) as client,
    ):
        for label in ("cold", "warm"):
            t = time.perf_counter()
            pages, items, size = fetch(client, args.dataset, params)
            took = time.perf_counter() - t
            print(
                f"HTTP {label}: {args.dataset} {args.hours} h window, limit={args.limit}: "
                f"{pages} pages, {items:,} records, {size / 1e6:.1f} MB in {took:.2f} s = "
                f"{pages / took:.1f} pages/s, {items / took:,.0f} records/s"
            )


if __name__ == "__main__":
    main()
