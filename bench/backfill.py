"""How long a backfill of a simulated mid-size shop takes, with and without Prefect.

    .venv/bin/python -m bench.backfill --days 30 --workers 1 2

The simulator (`MID_SIZE`: ~5,000 paid order lines an hour) serves its export API from a
separate process on 127.0.0.1, so its generation does not share the backfill's interpreter
(it still shares the machine's cores). For each worker count the same range is backfilled
into a fresh warehouse twice: by the `backfill` Prefect flow (extract-chunk and load-chunk
task runs on a ThreadPoolTaskRunner) and by `plain_backfill` (the same functions on a plain
thread pool, no Prefect). Printed side by side: wall time, the flow's task runs, the
difference (Prefect's overhead), order records loaded (every version of every line) per
second, and the backend floor (paging the whole range once, no loading). Prefect runs
against its temporary local server, started (and timed) before anything is measured.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["main"]

TOKEN = "bench-token"


def _serve(spec_days: int, size: str, port_queue: Any, stop: Any) -> None:
    from simulator import MID_SIZE, ShopSpec, Simulator
    from simulator.server import SimulatorServer

    base = MID_SIZE if size == "mid" else ShopSpec(skus=40, visitors_per_day=60_000)
    sim = Simulator("normal", 0, replace(base, days=spec_days))
    with SimulatorServer(sim, token=TOKEN) as server:
        port_queue.put((server.base_url, sim.spec.start.isoformat()))
        stop.wait()


def _config(folder: Path, base_url: str, name: str) -> Path:
    import yaml

    path = folder / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "shop": {"name": name, "timezone": "Asia/Shanghai"},
                "source": {"base_url": base_url, "token": TOKEN, "page_size": 5000},
                "warehouse": {"path": f"{name}.duckdb"},
            }
        ),
        encoding="utf-8",
    )
    return path


def _floor(settings: Any, start: datetime, end: datetime) -> tuple[float, int]:
    """Page every dataset of the range once, day by day, discarding the pages."""
    from flows.extract import JsonPage, make_source

    clock = time.monotonic()
    records = 0
    with closing(make_source(settings.source)) as source:
        day = start
        while day < end:
            nxt = min(day + timedelta(days=1), end)
            for dataset in settings.source.datasets:
                for page in source.pages(dataset, day, nxt):
                    records += page.count if isinstance(page, JsonPage) else 0
            day = nxt
    return time.monotonic() - clock, records


def _task_runs(flow_run_id: Any) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    count = 0
    with get_client(sync_client=True) as client:
        while True:  # the API returns at most 200 a page
            page = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                limit=200,
                offset=count,
            )
            count += len(page)
            if len(page) < 200:
                return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30, help="days backfilled")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-hours", type=int, default=24)
    parser.add_argument("--size", choices=["mid", "small"], default="mid")
    parser.add_argument("--skip-plain", action="store_true", help="only the Prefect flow")
    parser.add_argument("--skip-floor", action="store_true", help="no backend-floor pass")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="shoppulse-bench-backfill-"))
    os.environ["PREFECT_HOME"] = str(home / "prefect")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.pop("PREFECT_API_URL", None)

    ctx = mp.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(args.days, args.size, ports, stop), daemon=True)
    server.start()
    base_url, start_iso = ports.get(timeout=120)
    start = datetime.fromisoformat(start_iso).astimezone(UTC)
    end = start + timedelta(days=args.days)

    from prefect import flow

    from flows.backfill import backfill
    from flows.rebuild import make_request, plain_backfill
    from flows.settings import load_settings

    @flow(name="bench-warmup")
    def warmup() -> None:
        """Start Prefect's temporary server before anything is timed."""

    clock = time.monotonic()
    warmup()
    prefect_start = time.monotonic() - clock

    results: dict[str, Any] = {
        "size": args.size,
        "days": args.days,
        "chunk_hours": args.chunk_hours,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "cpus": os.cpu_count(),
        "prefect_server_start_s": round(prefect_start, 1),
        "runs": [],
    }
    if not args.skip_floor:
        settings = load_settings(_config(home, base_url, "floor"))
        seconds, records = _floor(settings, start, end)
        results["floor"] = {"seconds": round(seconds, 1), "records": records}
        print(f"backend floor: {records:,} records paged in {seconds:.1f}s", file=sys.stderr)

    modes = ["prefect"] if args.skip_plain else ["prefect", "plain"]
    for workers in args.workers:
        for mode in modes:
            name = f"{mode}-w{workers}"
            config = _config(home, base_url, name)
            settings = load_settings(config)
            print(f"{name}: backfilling {args.days} days…", file=sys.stderr, flush=True)
            clock = time.monotonic()
            if mode == "prefect":
                state = backfill(
                    start=start.isoformat(),
                    end=end.isoformat(),
                    config=str(config),
                    chunk_hours=args.chunk_hours,
                    workers=workers,
                    return_state=True,
                )
                wall = time.monotonic() - clock
                summary = state.result(raise_on_failure=False)
                tasks: int | None = _task_runs(state.state_details.flow_run_id)
            else:
                request = make_request(
                    settings, start.isoformat(), end.isoformat(), chunk_hours=args.chunk_hours
                )
                summary = plain_backfill(settings, request, workers=workers)
                wall = time.monotonic() - clock
                tasks = None
            assert isinstance(summary, dict), summary
            run = {
                "mode": mode,
                "workers": workers,
                "wall_s": round(wall, 1),
                "task_runs": tasks,
                "chunks": summary["chunks"],
                "failed": len(summary["failed"]),
                "order_lines": summary["loaded"].get("orders", 0),
                "rows": sum(summary["loaded"].values()),
                "extract_s": summary["extract_seconds"],
                "load_s": summary["load_seconds"],
            }
            results["runs"].append(run)
            print(f"  {json.dumps(run)}", file=sys.stderr, flush=True)
            settings.warehouse.path.unlink(missing_ok=True)
    stop.set()
    server.join(10)
    shutil.rmtree(home, ignore_errors=True)
    _print(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


def _print(results: dict[str, Any]) -> None:
    runs = {(r["mode"], r["workers"]): r for r in results["runs"]}
    print(
        f"\nbackfill of {results['days']} days, {results['size']} shop, chunks of"
        f" {results['chunk_hours']} h, {results['cpus']} CPUs"
        f" (Prefect temporary server start, not counted: {results['prefect_server_start_s']}s)"
    )
    if "floor" in results:
        floor = results["floor"]
        print(f"backend floor (page everything once, load nothing): {floor['seconds']}s,"
              f" {floor['records']:,} records")  # fmt: skip
    print(
        f"{'workers':>7} {'prefect s':>10} {'plain s':>8} {'overhead s':>10} {'overhead':>8}"
        f" {'task runs':>9} {'chunks':>6} {'order recs':>12} {'recs/s':>8}"
    )
    for workers in sorted({w for _, w in runs}):
        flow = runs.get(("prefect", workers))
        plain = runs.get(("plain", workers))
        main = flow or plain
        assert main is not None
        over = over_pct = "—"
        if flow and plain:
            diff = flow["wall_s"] - plain["wall_s"]
            over, over_pct = f"{diff:+.1f}", f"{diff / plain['wall_s']:+.1%}"
        flow_s = flow["wall_s"] if flow else "—"
        plain_s = plain["wall_s"] if plain else "—"
        tasks = flow["task_runs"] if flow else "—"
        rate = main["order_lines"] / main["wall_s"]
        print(
            f"{workers:>7} {flow_s:>10} {plain_s:>8} {over:>10} {over_pct:>8} {tasks:>9}"
            f" {main['chunks']:>6} {main['order_lines']:>12,} {rate:>8,.0f}"
        )


if __name__ == "__main__":
    sys.exit(main())
