"""Load rate of the `taobao` source: a simulated shop through its TOP gateway and 生意参谋 files.

    .venv/bin/python -m bench.taobao_source --days 30

Writes the simulated shop's 生意参谋 exports (XLSX and GBK CSV, one per day and dataset),
serves its TOP gateway on loopback, and loads every day in one run (lookback = the whole
range) into a fresh warehouse, as a first hourly run does. Prints records per second per
dataset and overall (records loaded into core / wall seconds of that dataset's load), and the
gateway calls made. The gateway does not pace: `calls_per_second` is set high, so the figure
is this machine's, not a real app's call limit.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from flows.pipeline import finish_run, load_window, plan_windows, refresh, start_run
from flows.settings import parse_settings
from flows.warehouse import Warehouse
from simulator import ShopSpec, Simulator
from simulator.taobao import TopCredentials, top_server, write_exports
from sources.taobao import TaobaoSource

__all__ = ["main"]

CREDS = TopCredentials("bench-app", "bench-secret", "bench-session")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sim = Simulator("normal", args.seed, ShopSpec(days=args.days))
    with tempfile.TemporaryDirectory(prefix="bench-taobao-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        files = write_exports(sim, root / "sycm")
        print(f"wrote {len(files)} 生意参谋 files in {time.perf_counter() - started:.1f}s")
        with top_server(sim, CREDS) as server:
            settings = parse_settings(
                {
                    "shop": {"name": "bench", "timezone": sim.spec.timezone},
                    "source": {
                        "kind": "taobao",
                        "app_key": CREDS.app_key,
                        "app_secret": CREDS.app_secret,
                        "session": CREDS.session,
                        "gateway": f"{server.base_url}/router/rest",
                        "exports_dir": str(root / "sycm"),
                        "lookback_hours": 24 * args.days,
                        "calls_per_second": 100_000,
                    },
                    "warehouse": {"path": str(root / "bench.duckdb")},
                },
                {},
            )
            source = TaobaoSource(settings.source)
            total_records, total_seconds = 0, 0.0
            with Warehouse(settings.warehouse.path) as wh:
                run = start_run(wh, sim.spec.end)
                for window in plan_windows(wh, settings, sim.spec.end):
                    calls = source.client.calls
                    began = time.perf_counter()
                    load_window(wh, source, run, window)
                    seconds = time.perf_counter() - began
                    loaded = run.loads[window.dataset].loaded if window.dataset in run.loads else 0
                    total_records += loaded
                    total_seconds += seconds
                    print(
                        f"{window.dataset:>10}: {loaded:>9,} records in {seconds:6.1f}s"
                        f" = {loaded / seconds if seconds else 0:>9,.0f} records/s"
                        f"  ({source.client.calls - calls} TOP calls)"
                    )
                refresh(wh, settings, run)
                finish_run(wh, run)
            source.close()
        print(
            f"{'all':>10}: {total_records:>9,} records in {total_seconds:6.1f}s"
            f" = {total_records / total_seconds:,.0f} records/s"
            f" ({args.days} simulated days, failures: {run.failures or 'none'})"
        )


if __name__ == "__main__":
    main()
