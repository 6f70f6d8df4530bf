"""Order lines per second through the Shopify source, paginated vs bulk, and the share of wall
time spent waiting on the throttle (`python -m bench.shopify_paths`).

The store is the simulator's Shopify emulation on loopback, with the cost bucket of the plan
named by `--plan` (standard: 2000 points, 100/s; plus: 20000 points, 1000/s; unlimited: no
throttle, to see the source's own cost). Each path reads the same `--days` of orders.
"""

from __future__ import annotations

import argparse
import time
from contextlib import closing
from datetime import timedelta

from pydantic import SecretStr

from simulator import ShopSpec, Simulator
from simulator.shopify import ShopifyServer
from sources.settings import SourceSettings
from sources.shopify import ShopifySource

TOKEN = "bench-token"
PLANS = {
    "standard": {"maximum": 2000.0, "restore_rate": 100.0},
    "plus": {"maximum": 20000.0, "restore_rate": 1000.0},
    "unlimited": {"maximum": 1e12, "restore_rate": 1e12},
}


def read(server: ShopifyServer, path: str, days: int, sim: Simulator) -> None:
    settings = SourceSettings(
        kind="shopify",
        shop="bench.myshopify.com",
        access_token=SecretStr(TOKEN),
        base_url=server.base_url,
    )
    until = sim.spec.end
    since = until - timedelta(days=days)
    server.emulator.set_now(until)
    with closing(ShopifySource(settings, bulk_poll_seconds=0.2)) as source:
        source.force = path
        started = time.perf_counter()
        records = 0
        for page in source.pages("orders", since, until):
            if hasattr(page, "count"):
                records += page.count
            else:
                with page.path.open("rb") as f:
                    records += sum(1 for _ in f)
        wall = time.perf_counter() - started
        client = source.client
        print(
            f"{path:>5}: {records:,} order lines in {wall:.1f} s = {records / wall:,.0f} lines/s;"
            f" {client.requests:,} requests, {client.throttled} THROTTLED,"
            f" throttle wait {client.throttle_wait_seconds:.1f} s"
            f" = {100 * client.throttle_wait_seconds / wall:.0f}% of wall time",
            flush=True,
        )


def main() -> None:
    """Serve a small shop as a Shopify store and read `--days` of orders both ways."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--skus", type=int, default=30)
    parser.add_argument("--visitors-per-day", type=int, default=2000)
    parser.add_argument("--plan", choices=sorted(PLANS), default="plus")
    parser.add_argument("--paths", nargs="+", default=["bulk", "pages"])
    args = parser.parse_args()
    spec = ShopSpec(skus=args.skus, visitors_per_day=args.visitors_per_day, days=args.days + 1)
    sim = Simulator("normal", 0, spec)
    print(
        f"shop: {spec.skus} SKUs, {spec.visitors_per_day:,} visitors/day; {args.days} days of"
        f" orders; plan {args.plan} {PLANS[args.plan]}",
        flush=True,
    )
    with ShopifyServer(sim, token=TOKEN, **PLANS[args.plan]) as server:
        for path in args.paths:
            read(server, path, args.days, sim)


if __name__ == "__main__":
    main()
