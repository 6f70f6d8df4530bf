"""`make bench` / `make bench-quick`: every benchmark, one table, bench/results.json.

    .venv/bin/python -m bench            # the full sizes (tens of minutes on 2 cores)
    .venv/bin/python -m bench --quick    # smaller sizes (under a minute and a half)
    .venv/bin/python -m bench --only ingest hourly   # refresh these parts of results.json

Each part runs in child interpreters on data from the seeded simulator, checks that ours and
its reference agree on row counts, and measures; nothing fails on a number. A figure that
could not be measured is null, with the reason under `notes`. The machine (cores, memory,
load) and the package versions are written with the figures. Each part is also runnable
alone (`python -m bench.ingest --help`, `bench.hourly`, `bench.backfill`, `bench.demo`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.child import run_child

RESULTS = Path(__file__).parent / "results.json"
PACKAGES = ("duckdb", "polars", "prefect", "httpx", "orjson", "pyarrow", "dlt", "pyinstrument")

# what each part runs at, full and quick
SIZES: dict[str, dict[str, list[str]]] = {
    "full": {
        # ~1M order records (every version) of the mid-size shop; http/dlt on ~190k of them
        "ingest": ["--hours", "64", "--no-dlt"],
        "http_el": ["--hours", "12"],
        # the older history at 500 lines/h: a year at 5,000 takes over an hour to generate
        "hourly": ["--days", "7", "365", "--runs", "3", "--lines-per-hour", "500"],
        "backfill": ["--days", "3", "--workers", "2", "--skip-plain"],
        "demo": [],
    },
    "quick": {
        # one 2-hour window with dlt serves both ingest and http_el (SHARED): two windows
        # meant twice the child interpreters for the same figures
        "ingest": ["--hours", "2"],
        "hourly": [
            "--days",
            "1",
            "7",
            "--runs",
            "1",
            "--size",
            "small",
            "--lines-per-hour",
            "200",
            "--build-jobs",
            "2",
        ],
        # plain threads, no Prefect: a second temporary server would not fit in 90 s
        "backfill": ["--days", "1", "--size", "small", "--workers", "2", "--plain-only"],
    },
}
PARTS = ("ingest", "http_el", "hourly", "backfill", "demo")
# at a size, a part whose figures come from another part's run
SHARED: dict[str, dict[str, str]] = {"full": {}, "quick": {"http_el": "ingest"}}
MODULES = {
    "ingest": "bench.ingest",
    "http_el": "bench.ingest",
    "hourly": "bench.hourly",
    "backfill": "bench.backfill",
    "demo": "bench.demo",
}


def machine() -> dict[str, Any]:
    """Cores, memory and load of this machine, and the versions of what was measured."""
    meminfo = Path("/proc/meminfo")
    memory = None
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cores": os.cpu_count(),
        "memory_gb": memory,
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }


def _ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def figures(parts: dict[str, Any], quick: bool) -> tuple[dict[str, Any], dict[str, str], list]:
    """The issue's keys from the parts' answers, the reasons for the missing ones, the checks."""
    keys: dict[str, Any] = {}
    notes: dict[str, str] = {}
    checks: list[str] = []
    ingest = parts.get("ingest")
    if ingest:
        records = ingest["page"]["records"]
        keys["ingest_lines"] = records
        keys["ingest_lines_per_s"] = round(records / ingest["files"]["seconds"])
        keys["duckdb_raw_lines_per_s"] = round(records / ingest["raw"]["seconds"])
        keys["ingest_ratio"] = _ratio(keys["ingest_lines_per_s"], keys["duckdb_raw_lines_per_s"])
        keys["peak_rss_mb_extract"] = ingest["http"]["peak_rss_mb"]
        keys["peak_rss_mb_extract_lines"] = records
        checks += [f"ingest: {c}" for c in ingest["checks"]]
    el = parts.get("http_el")
    if el:
        records = el["page"]["records"]
        keys["http_el_lines"] = records
        keys["http_el_s"] = round(el["http"]["seconds"], 3)
        keys["http_floor_s"] = round(el["page"]["seconds"], 3)
        if "page_cold" in el:  # the same paging with the simulator's caches cold
            keys["http_floor_cold_s"] = round(el["page_cold"]["seconds"], 3)
        keys["http_raw_ratio"] = _ratio(el["raw"]["seconds"], el["http"]["seconds"])
        keys["peak_rss_mb_extract_small"] = el["http"]["peak_rss_mb"]
        keys["peak_rss_mb_extract_small_lines"] = records
        dlt = el.get("dlt", {})
        if "seconds" in dlt:
            keys["dlt_el_s"] = round(dlt["seconds"], 3)
            keys["dlt_ratio"] = _ratio(dlt["seconds"], el["http"]["seconds"], 1)
            keys["peak_rss_mb_dlt"] = dlt["peak_rss_mb"]
        else:
            keys["dlt_el_s"] = keys["dlt_ratio"] = None
            notes["dlt_el_s"] = notes["dlt_ratio"] = dlt.get("error", "dlt not run")
        if el != ingest:  # a shared run's checks are listed once, under ingest
            checks += [f"http_el: {c}" for c in el["checks"]]
    hourly = parts.get("hourly")
    if hourly:
        history = hourly["history"]
        days = sorted(history, key=int)
        short, long_ = days[0], days[-1]
        keys["prefect_start_s"] = hourly["prefect_start_s"]
        keys["peak_rss_mb_hourly"] = hourly["run_peak_rss_mb"]
        for n in days:
            keys[f"hourly_run_s_{n}d"] = history[n]["run"]["median_wall_s"]
            keys[f"hourly_run_cpu_s_{n}d"] = history[n]["run"]["median_cpu_s"]
            keys[f"hourly_run_orders_{n}d"] = history[n]["run"]["order_lines"]
            bad = [s for s in history[n]["run"]["statuses"] if s != "ok"]
            if bad:
                checks.append(f"hourly {n} d: run status {bad}")
        keys["history_growth"] = _ratio(
            history[long_]["run"]["median_wall_s"], history[short]["run"]["median_wall_s"]
        )
        keys["history_growth_days"] = [int(short), int(long_)]
        # the run's own windows paged again, nothing loaded: what no loader can take away
        keys["hourly_paging_s"] = history[short]["run"].get("median_paging_s")
        keys["hourly_paged_records"] = history[short]["run"].get("paged_records")
        keys["hourly_paging_ratio"] = _ratio(
            history[short]["run"]["median_wall_s"], keys["hourly_paging_s"]
        )
        keys["hourly_shop"] = {
            "size": hourly["size"],
            "history_lines_per_hour": hourly["lines_per_hour"],
        }
        for n in ("7", "365"):
            if f"hourly_run_s_{n}d" not in keys:
                keys[f"hourly_run_s_{n}d"] = None
                notes[f"hourly_run_s_{n}d"] = (
                    f"quick: measured {short} and {long_} days of history instead"
                )
    backfill = parts.get("backfill")
    if backfill:
        runs = [r for r in backfill["runs"] if r["mode"] == "prefect"] or backfill["runs"]
        best = min(runs, key=lambda r: r["wall_s"])
        keys["backfill_mode"] = best["mode"]
        floor = backfill.get("floor", {})
        keys["backfill_days"] = backfill["days"]
        keys["backfill_shop"] = backfill["size"]
        keys["backfill_wall_s"] = best["wall_s"]
        keys["backfill_workers"] = best["workers"]
        keys["backfill_lines_per_s"] = round(best["order_records"] / best["wall_s"])
        keys["backfill_floor_s"] = floor.get("seconds")
        keys["backfill_floor_ratio"] = _ratio(best["wall_s"], floor.get("seconds"))
        keys["backfill_task_runs"] = best["task_runs"]
        if best["task_runs"] is None:
            notes["backfill_task_runs"] = "quick: the backfill runs on plain threads, no Prefect"
        if best["failed"]:
            checks.append(f"backfill: {best['failed']} chunks failed")
        # dimensions are pulled from the beginning by the first chunk, so compare the facts
        for dataset in ("orders", "traffic", "inventory", "keywords"):
            paged = floor.get("by_dataset", {}).get(dataset)
            loaded = best["loaded"].get(dataset)
            if paged is not None and loaded != paged:
                checks.append(
                    f"backfill: loaded {loaded} {dataset} rows, the backend paged {paged}"
                )
    demo = parts.get("demo")
    if demo:
        keys["demo_s"] = demo["seconds"]
        keys["demo_first_kpi_line_s"] = demo["first_kpi_line_s"]
        if demo["exit"] != 0:
            checks.append(f"demo exited {demo['exit']}")
    elif quick:
        keys["demo_s"] = None
        notes["demo_s"] = "quick: `shoppulse demo` runs only in the full bench (make bench)"
    for part, error in parts.get("errors", {}).items():
        notes[part] = error
    return keys, notes, checks


def _print(keys: dict[str, Any], notes: dict[str, str], checks: list[str]) -> None:
    print(f"\n{'figure':<34}{'value':>16}")
    for name, value in keys.items():
        if isinstance(value, float):
            text = f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
        elif isinstance(value, int):
            text = f"{value:,}"
        else:
            text = "null" if value is None else json.dumps(value)
        print(f"{name:<34}{text:>16}{'  (' + notes[name] + ')' if name in notes else ''}")
    for name, note in notes.items():
        if name not in keys:
            print(f"{name:<34}{'—':>16}  ({note})")
    for check in checks:
        print(f"CHECK FAILED: {check}")
    if not checks:
        print("row counts: ours and the references agree")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under 90 s")
    parser.add_argument(
        "--only", nargs="+", choices=PARTS, help="run only these parts (others kept from --out)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    size = "quick" if args.quick else "full"
    wanted = [SHARED[size].get(p, p) for p in (args.only or PARTS)]
    chosen = [p for p in PARTS if p in wanted and p in SIZES[size]]
    started = time.monotonic()
    info = machine()
    parts: dict[str, Any] = {"errors": {}}
    if args.only and args.out.exists():
        # refresh only the chosen parts of an earlier run of the same size
        earlier = json.loads(args.out.read_text(encoding="utf-8"))
        if earlier.get("mode") == size:
            parts.update(earlier.get("parts", {}))
            parts["errors"] = {
                k: v for k, v in earlier.get("notes", {}).items() if k in PARTS and k not in chosen
            }
    for part in chosen:
        print(f"== {part} ({size}) ==", file=sys.stderr, flush=True)
        clock = time.monotonic()
        try:
            parts[part] = run_child(MODULES[part], *SIZES[size][part])
        except RuntimeError as exc:
            parts["errors"][part] = str(exc)
        print(f"   {part}: {time.monotonic() - clock:.0f} s", file=sys.stderr, flush=True)
    for part, source in SHARED[size].items():
        if source in chosen:
            parts["errors"].pop(part, None)
            if source in parts["errors"]:
                parts["errors"][part] = parts["errors"][source]
            else:
                parts[part] = parts[source]
    keys, notes, checks = figures(parts, args.quick)
    results = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": size,
        "command": "make bench-quick" if args.quick else "make bench",
        "seconds": round(time.monotonic() - started, 1),
        "machine": info,
        **keys,
        "notes": notes,
        "checks_failed": checks,
        "parts": {k: v for k, v in parts.items() if k != "errors"},
    }
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    _print(keys, notes, checks)
    print(
        f"\n{size} bench in {results['seconds']:.0f} s on {info['cores']} cores,"
        f" {info['memory_gb']} GB; written to {args.out}"
    )
    return 1 if checks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
