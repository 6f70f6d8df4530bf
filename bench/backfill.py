"""How long a backfill of a simulated mid-size shop takes, with and without Prefect.

    .venv/bin/python -m bench.backfill --days 30 --workers 1 2
    .venv/bin/python -m bench.backfill --days 5 --workers 2 --repeat 3 --skip-floor

The simulator (`MID_SIZE`: ~5,000 paid order lines an hour) serves its export API from a
separate process on 127.0.0.1, so its generation does not share the backfill's interpreter
(it still shares the machine's cores). For each worker count the same range is backfilled
into a fresh warehouse by the `backfill` Prefect flow (extract-chunk and load-chunk task runs
on a ThreadPoolTaskRunner) and by `plain_backfill` (the same functions on a plain thread
pool, no Prefect), alternating which goes first over `--repeat` rounds. Printed side by side
(medians): wall time, CPU time of the backfill process and of Prefect's temporary server,
the flow's task runs, order records loaded (every version of every line) per second, the
machine's load average, Prefect's overhead (flow minus plain), and the backend floor
(paging the whole range once, loading nothing). Wall time on a shared machine moves with
other work; CPU time much less so. Prefect's temporary server is started (and timed) first.
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


def _floor(settings: Any, start: datetime, end: datetime) -> tuple[float, dict[str, int]]:
    """Page every dataset of the range once, day by day, discarding the pages."""
    from sources import JsonPage, make_source

    clock = time.monotonic()
    records: dict[str, int] = {}
    with closing(make_source(settings.source)) as source:
        day = start
        while day < end:
            nxt = min(day + timedelta(days=1), end)
            for dataset in settings.source.datasets:
                for page in source.pages(dataset, day, nxt):
                    count = page.count if isinstance(page, JsonPage) else 0
                    records[dataset] = records.get(dataset, 0) + count
            day = nxt
    return time.monotonic() - clock, records


def _server_cpu() -> float:
    """CPU seconds used so far by Prefect's temporary server process (Linux /proc)."""
    # the server `tie_temporary_server` started (main ties it before the warm-up flow); a
    # plain-only run never imported the module and has no server to ask
    local = sys.modules.get("flows.local_server")
    total = 0.0
    for server in local._tied if local is not None else []:
        process = server.server_process
        if process is None:
            continue
        try:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


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


def _run(
    mode: str,
    workers: int,
    round_: int,
    home: Path,
    base_url: str,
    start: datetime,
    end: datetime,
    chunk_hours: int,
) -> dict[str, Any]:
    """One backfill into a fresh warehouse: wall and CPU time, what it loaded."""
    from flows.rebuild import make_request, plain_backfill
    from flows.settings import load_settings

    name = f"{mode}-w{workers}-r{round_}"
    config = _config(home, base_url, name)
    settings = load_settings(config)
    print(f"{name}: backfilling {start.date()}..{end.date()}…", file=sys.stderr, flush=True)
    server_cpu = _server_cpu()
    cpu = time.process_time()
    clock = time.monotonic()
    tasks: int | None = None
    if mode == "prefect":
        # imported here: a plain-only run never pays for importing Prefect
        from flows.backfill import backfill
        from flows.local_server import local_run_settings

        with local_run_settings():  # as `shoppulse backfill` runs it
            state = backfill(
                start=start.isoformat(),
                end=end.isoformat(),
                config=str(config),
                chunk_hours=chunk_hours,
                workers=workers,
                return_state=True,
            )
        wall = time.monotonic() - clock
        cpu = time.process_time() - cpu
        server_cpu = _server_cpu() - server_cpu
        summary = state.result(raise_on_failure=False)
        tasks = _task_runs(state.state_details.flow_run_id)
    else:
        request = make_request(
            settings, start.isoformat(), end.isoformat(), chunk_hours=chunk_hours
        )
        summary = plain_backfill(settings, request, workers=workers)
        wall = time.monotonic() - clock
        cpu = time.process_time() - cpu
        server_cpu = _server_cpu() - server_cpu
    assert isinstance(summary, dict), summary
    settings.warehouse.path.unlink(missing_ok=True)
    return {
        "mode": mode,
        "workers": workers,
        "round": round_,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "server_cpu_s": round(server_cpu, 1),
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "task_runs": tasks,
        "chunks": summary["chunks"],
        "failed": len(summary["failed"]),
        "order_records": summary["loaded"].get("orders", 0),
        "rows": sum(summary["loaded"].values()),
        "loaded": summary["loaded"],
        "extract_s": summary["extract_seconds"],
        "load_s": summary["load_seconds"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30, help="days backfilled")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-hours", type=int, default=24)
    parser.add_argument("--size", choices=["mid", "small"], default="mid")
    parser.add_argument("--skip-plain", action="store_true", help="only the Prefect flow")
    parser.add_argument("--plain-only", action="store_true", help="no Prefect at all")
    parser.add_argument("--skip-floor", action="store_true", help="no backend-floor pass")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, modes interleaved")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="shoppulse-bench-backfill-"))
    os.environ["PREFECT_HOME"] = str(home / "prefect")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    # a loaded machine can take longer than the default 20 s to bring the server up
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.pop("PREFECT_API_URL", None)

    ctx = mp.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(args.days, args.size, ports, stop), daemon=True)
    server.start()
    base_url, start_iso = ports.get(timeout=120)
    start = datetime.fromisoformat(start_iso).astimezone(UTC)
    end = start + timedelta(days=args.days)

    from flows.settings import load_settings

    prefect_start = None
    if not args.plain_only:
        from prefect import flow

        from flows.local_server import tie_temporary_server

        @flow(name="bench-warmup")
        def warmup() -> None:
            """Start Prefect's temporary server before anything is timed."""

        clock = time.monotonic()
        tie_temporary_server()  # starts the server `shoppulse backfill` starts
        warmup()
        prefect_start = round(time.monotonic() - clock, 1)

    results: dict[str, Any] = {
        "size": args.size,
        "days": args.days,
        "chunk_hours": args.chunk_hours,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "cpus": os.cpu_count(),
        "prefect_server_start_s": prefect_start,
        "runs": [],
    }
    if not args.skip_floor:
        settings = load_settings(_config(home, base_url, "floor"))
        seconds, counts = _floor(settings, start, end)
        records = sum(counts.values())
        results["floor"] = {"seconds": round(seconds, 1), "records": records, "by_dataset": counts}
        print(f"backend floor: {records:,} records paged in {seconds:.1f}s", file=sys.stderr)

    modes = ["prefect"] if args.skip_plain else ["prefect", "plain"]
    if args.plain_only:
        modes = ["plain"]
    for round_ in range(args.repeat):
        for workers in args.workers:
            # alternate which mode goes first, so a drifting machine load favours neither
            for mode in modes if round_ % 2 == 0 else modes[::-1]:
                run = _run(mode, workers, round_, home, base_url, start, end, args.chunk_hours)
                results["runs"].append(run)
                print(f"  {json.dumps(run)}", file=sys.stderr, flush=True)
    stop.set()
    server.join(10)
    shutil.rmtree(home, ignore_errors=True)
    _print(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _print(results: dict[str, Any]) -> None:
    print(
        f"\nbackfill of {results['days']} days, {results['size']} shop, chunks of"
        f" {results['chunk_hours']} h, {results['cpus']} CPUs"
        + (
            f" (Prefect temporary server start, not counted: {results['prefect_server_start_s']}s)"
            if results["prefect_server_start_s"] is not None
            else " (no Prefect)"
        )
    )
    if "floor" in results:
        floor = results["floor"]
        print(f"backend floor (page everything once, load nothing): {floor['seconds']}s,"
              f" {floor['records']:,} records")  # fmt: skip
    print("medians over rounds; cpu = the backfill process (all threads); server = Prefect's")
    print(
        f"{'workers':>7} {'mode':>8} {'wall s':>7} {'cpu s':>7} {'server s':>8} {'task runs':>9}"
        f" {'chunks':>6} {'order recs':>11} {'recs/s':>7} {'load avg':>8}"
    )
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for run in results["runs"]:
        groups.setdefault((run["workers"], run["mode"]), []).append(run)
    for (workers, mode), runs in sorted(groups.items()):
        wall = _median([r["wall_s"] for r in runs])
        cpu = _median([r["cpu_s"] for r in runs])
        server = _median([r["server_cpu_s"] for r in runs])
        first = runs[0]
        print(
            f"{workers:>7} {mode:>8} {wall:>7.1f} {cpu:>7.1f} {server:>8.1f}"
            f" {first['task_runs'] if first['task_runs'] is not None else '—':>9}"
            f" {first['chunks']:>6} {first['order_records']:>11,}"
            f" {first['order_records'] / wall:>7,.0f}"
            f" {_median([r['load_avg_1m'] for r in runs]):>8.1f}"
        )
    for workers in sorted({w for w, _ in groups}):
        flow, plain = groups.get((workers, "prefect")), groups.get((workers, "plain"))
        if flow and plain:
            wall = _median([r["wall_s"] for r in flow]) - _median([r["wall_s"] for r in plain])
            cpu = _median([r["cpu_s"] for r in flow]) - _median([r["cpu_s"] for r in plain])
            # the server burns CPU while idle too: count only what the flow added
            server = _median([r["server_cpu_s"] for r in flow]) - _median(
                [r["server_cpu_s"] for r in plain]
            )
            tasks = flow[0]["task_runs"] or 1
            print(
                f"Prefect overhead, {workers} worker(s): wall {wall:+.1f}s,"
                f" process CPU {cpu:+.1f}s, server CPU {server:+.1f}s"
                f" ({1000 * (cpu + server) / tasks:+.0f} ms CPU per task run)"
            )


if __name__ == "__main__":
    sys.exit(main())
