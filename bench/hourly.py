"""One hourly run (`shoppulse run --hour`) of a mid-size shop with a week vs a year of history.

    .venv/bin/python -m bench.hourly --days 7 365 --runs 3

The seeded simulator (`normal`, mid-size: ~5,000 paid order lines an hour) serves its export
API from its own process (`--size small` for a small one). For each history length a
warehouse is built in a child process:
the older history (before the simulator's first hour) is generated straight into core by
`bench.kpi_refresh`'s deterministic model at the same rate, its marts are built, and a first
hourly run loads the simulator's first 48 hours. Another child then starts Prefect's
temporary server as `shoppulse run` starts it (timed alone: `prefect_start_s`) and times
`--runs` consecutive runs of the `hourly-etl` flow on each warehouse, taking turns (each run
re-reads the 48-hour lookback over HTTP, merges, refreshes the marts, evaluates the rules);
its peak RSS is the hourly run's.
Last, the same child pages the windows of each warehouse's last run again with the run's own
client, loading nothing (`paging_s`): the part of an hourly run no loader can take away.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.backend import TOKEN, serving
from bench.child import run_child, write_answer

__all__ = ["main", "measure"]

FIRST_RUN_HOURS = 48
TZ = "Asia/Shanghai"


def _config(folder: Path, base_url: str, name: str) -> Path:
    import yaml

    path = folder / f"{name}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "shop": {"name": name, "timezone": TZ},
                "source": {"base_url": base_url, "token": TOKEN, "page_size": 5000},
                "warehouse": {"path": f"{name}.duckdb"},
            }
        ),
        encoding="utf-8",
    )
    return path


def _build(config: Path, start: datetime, days: int, lines_per_hour: int) -> dict[str, Any]:
    """Older history from the generator, its marts, then a first run over the simulator."""
    from contextlib import closing

    from bench.kpi_refresh import Shop, build_marts, fill_stock_history, populate
    from flows.pipeline import run_hour
    from flows.settings import load_settings
    from flows.warehouse import Warehouse
    from sources import make_source

    settings = load_settings(config)
    clock = time.monotonic()
    shop = Shop(origin=start - timedelta(days=days), lines_per_hour=lines_per_hour)
    with Warehouse(settings.warehouse.path) as wh:
        populate(wh.con, shop, days * 24)
        build_marts(wh, TZ, shop.origin, start)
        fill_stock_history(wh, shop, days * 24)
        with closing(make_source(settings.source)) as source:
            run_hour(wh, settings, source, start + timedelta(hours=FIRST_RUN_HOURS))
        wh.execute("checkpoint")
        orders = wh.rows("select count(*) from core.orders")[0][0]
    return {"seconds": time.monotonic() - clock, "order_lines": orders}


def _runs(configs: list[Path], start: datetime, runs: int) -> dict[str, Any]:
    """Start Prefect's temporary server, then time `runs` consecutive hourly flow runs of each
    warehouse, taking turns so a busy machine slows every history size alike."""
    from prefect import flow

    from flows.etl import hourly_etl
    from flows.local_server import local_run_settings, tie_temporary_server
    from flows.settings import load_settings
    from flows.warehouse import Warehouse

    @flow(name="bench-warmup")
    def warmup() -> None:
        """Start Prefect's temporary server before anything is timed."""

    clock = time.monotonic()
    tie_temporary_server()  # starts the server `shoppulse run` starts
    warmup()
    prefect_start = time.monotonic() - clock
    walls: dict[Path, list[float]] = {c: [] for c in configs}
    cpus: dict[Path, list[float]] = {c: [] for c in configs}
    statuses: dict[Path, list[str | None]] = {c: [] for c in configs}
    for index in range(runs):
        # --hour names the local hour processed: the run's clock stands at its end
        hour = start + timedelta(hours=FIRST_RUN_HOURS + index)
        for config in configs:
            wall, cpu = time.monotonic(), time.process_time()
            with local_run_settings():  # as `shoppulse run` runs it
                summary = hourly_etl(config=str(config), hour=hour.isoformat())
            walls[config].append(time.monotonic() - wall)
            cpus[config].append(time.process_time() - cpu)
            statuses[config].append(summary.get("status") if isinstance(summary, dict) else None)
    out: dict[str, Any] = {"prefect_start_s": round(prefect_start, 3), "warehouses": {}}
    for config in configs:
        settings = load_settings(config)
        with Warehouse(settings.warehouse.path, read_only=True) as wh:
            orders = wh.rows("select count(*) from core.orders")[0][0]
            counts = wh.rows(
                "select counts from ops.runs where kind = 'hourly' order by started_at desc limit 1"
            )[0][0]
            windows = wh.rows(
                "select dataset, window_start, window_end, received from raw.batches"
                " where window_end = (select max(window_end) from raw.batches)"
            )
        pagings = [_paging(settings.source, windows) for _ in range(runs)]
        out["warehouses"][config.stem] = {
            "wall_s": [round(w, 3) for w in walls[config]],
            "cpu_s": [round(c, 3) for c in cpus[config]],
            "statuses": statuses[config],
            "median_wall_s": round(statistics.median(walls[config]), 3),
            "median_cpu_s": round(statistics.median(cpus[config]), 3),
            "order_lines": orders,
            "last_run_counts": counts,
            "paging_s": [round(p, 3) for p in pagings],
            "median_paging_s": round(statistics.median(pagings), 3),
            "paged_records": sum(int(w[3]) for w in windows),
        }
    return out


def _paging(source_settings: Any, windows: list[tuple[Any, ...]]) -> float:
    """Seconds to page `(dataset, since, until, _)` windows with a fresh client of the source,
    each page fetched and read as the loader gets it, then dropped."""
    from contextlib import closing

    from sources import make_source

    clock = time.monotonic()
    with closing(make_source(source_settings)) as source:
        for dataset, since, until, _ in windows:
            for _page in source.pages(dataset, since, until):
                pass
    return time.monotonic() - clock


def measure(
    days: list[int], runs: int, lines_per_hour: int, size: str = "mid", build_jobs: int = 1
) -> dict[str, Any]:
    """Build a warehouse per history length (`build_jobs` at a time), then time their hourly
    runs in one process."""
    with (
        serving(size, days=4) as backend,
        tempfile.TemporaryDirectory(prefix="shoppulse-bench-hourly-") as tmp,
    ):
        folder = Path(tmp)
        common = ["--start", backend.start.isoformat(), "--workdir", tmp]
        env = {
            "PREFECT_HOME": str(folder / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        }
        out: dict[str, Any] = {"size": size, "lines_per_hour": lines_per_hour, "history": {}}
        configs = [str(_config(folder, backend.base_url, f"h{n}d")) for n in days]

        def build(n: int, config: str) -> dict[str, Any]:
            args = ["--config", config, "--days", str(n), "--lines-per-hour", str(lines_per_hour)]
            return run_child("bench.hourly", "--role", "build", *common, *args)

        # the builds are set-up, not figures: on a small shop they can share the machine
        with ThreadPoolExecutor(max_workers=build_jobs) as pool:
            built = list(pool.map(build, days, configs))
        for n, answer in zip(days, built, strict=True):
            out["history"][str(n)] = {"build": answer}
        timed = run_child(
            "bench.hourly",
            "--role",
            "run",
            *common,
            "--config",
            *configs,
            "--runs",
            str(runs),
            env=env,
        )
        out["prefect_start_s"] = timed["prefect_start_s"]
        # not "peak_rss_mb": run as a part of `python -m bench`, this process is itself a child
        # whose answer gets that key (the largest of all its descendants, the builds too)
        out["run_peak_rss_mb"] = timed["peak_rss_mb"]
        for n in days:
            out["history"][str(n)]["run"] = timed["warehouses"][f"h{n}d"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[7, 365])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lines-per-hour", type=int, default=5000, help="older history's rate")
    parser.add_argument("--size", choices=["mid", "small"], default="mid")
    parser.add_argument(
        "--build-jobs", type=int, default=1, help="warehouses built at once (not timed)"
    )
    parser.add_argument("--json")
    parser.add_argument("--role", choices=["build", "run"])
    parser.add_argument("--config", nargs="+")
    parser.add_argument("--start")
    parser.add_argument("--workdir")
    args = parser.parse_args(argv)
    if args.role is None:
        out = measure(args.days, args.runs, args.lines_per_hour, args.size, args.build_jobs)
        _print(out)
        if args.json:
            write_answer(args.json, out)
        return 0
    start = datetime.fromisoformat(args.start).astimezone(UTC)
    configs = [Path(c) for c in args.config]
    if args.role == "build":
        answer = _build(configs[0], start, args.days[0], args.lines_per_hour)
    else:
        answer = _runs(configs, start, args.runs)
    answer["pid"] = os.getpid()
    write_answer(args.json, answer)
    return 0


def _print(out: dict[str, Any]) -> None:
    print(f"Prefect temporary server start (not counted): {out['prefect_start_s']:.1f} s")
    print(
        f"{'history':>8}{'lines':>13}{'build s':>9}{'run s':>8}{'cpu s':>8}"
        f"{'paged':>11}{'paging s':>10}"
    )
    for n, figures in out["history"].items():
        run = figures["run"]
        print(
            f"{n + ' d':>8}{run['order_lines']:>13,}{figures['build']['seconds']:>9.0f}"
            f"{run['median_wall_s']:>8.2f}{run['median_cpu_s']:>8.2f}"
            f"{run['paged_records']:>11,}{run['median_paging_s']:>10.2f}"
        )
    print(f"peak RSS of the process running the hourly flows: {out['run_peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    raise SystemExit(main())
