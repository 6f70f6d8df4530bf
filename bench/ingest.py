"""Extract and load of the same simulated orders: ours (files and HTTP) vs DuckDB's raw
read_json vs dlt's rest_api source.

    .venv/bin/python -m bench.ingest --hours 200           # ~1M order records, mid-size shop
    .venv/bin/python -m bench.ingest --hours 24 --no-dlt

The seeded simulator (`normal`, a mid-size shop) serves its export API from its own process
on 127.0.0.1. Every role runs in a fresh child interpreter (its peak RSS is its own):
- `page`: page the orders window once with httpx and write the items as JSON lines (the
  backend floor over HTTP, and the file the other references read); it runs twice, and the
  floor is the second pass: the first finds the simulator cold (generating the window's
  hours takes most of it), the second finds it as ours and dlt do after it;
- `raw`: DuckDB `read_json` of that file into a table (no validation, no merge);
- `files`: the `files` source (land → staging → quarantine → merge into core.orders);
- `http`: `flows.pipeline.load_dataset` over HTTP, as an hourly run loads a dataset;
- `dlt`: dlt's `rest_api` source into DuckDB, merge on (order_id, sku_id), when installed.
`CPU s` is the timed part's CPU time in its process (every thread; not the simulator's): on a
machine shared with other jobs it moves less than the wall time. Each timed part starts with
the garbage of its imports collected, as the imports themselves are not timed (measured:
otherwise a full collection of that heap, 20-150 ms holding the GIL, fell inside `http`, set
off by the pages' allocations). The row counts must agree: raw rows = records landed by ours,
and distinct keys in the raw table = rows in core.orders = rows in dlt's table. A mismatch is
reported as an error.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.backend import TOKEN, serving
from bench.child import run_child, write_answer

__all__ = ["main", "measure"]

DATASET = "orders"
KEY = ("order_id", "sku_id")


def _start() -> tuple[float, float]:
    """The wall clock and CPU time at the start of a timed part, with the garbage of the
    imports and setup before it collected first, so no role pays for that in its time."""
    gc.collect()
    return time.perf_counter(), time.process_time()


def _page(base_url: str, since: datetime, until: datetime, out: Path, limit: int) -> dict[str, Any]:
    import httpx
    import orjson

    clock, cpu = _start()
    pages = records = 0
    params: dict[str, str | int] = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "limit": limit,
    }
    with (
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300
        ) as client,
        out.open("wb") as file,
    ):
        cursor = None
        while True:
            query = dict(params, cursor=cursor) if cursor else params
            response = client.get(f"/v1/exports/{DATASET}", params=query)
            response.raise_for_status()
            body = orjson.loads(response.content)
            for item in body["items"]:
                file.write(orjson.dumps(item) + b"\n")
            pages += 1
            records += len(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                break
    return {
        "seconds": time.perf_counter() - clock,
        "cpu_seconds": time.process_time() - cpu,
        "records": records,
        "pages": pages,
    }


def _raw(path: Path, db: Path) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(str(db))
    clock, cpu = _start()
    con.execute("create table orders as select * from read_json($p)", {"p": str(path)}).fetchall()
    seconds, cpu = time.perf_counter() - clock, time.process_time() - cpu
    rows, keys = con.execute(
        "select count(*), count(distinct (order_id, sku_id)) from orders"
    ).fetchall()[0]
    con.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": rows, "keys": keys}


def _ours(role: str, path: Path, db: Path, args: argparse.Namespace) -> dict[str, Any]:
    from flows.pipeline import Window, load_dataset
    from flows.warehouse import Warehouse
    from flows.warehouse.load import land, merge_batch
    from sources import FilePage, SourceSettings, make_source

    since, until = _window(args)
    with Warehouse(db, memory_limit=args.memory_limit) as wh:
        clock, cpu = _start()
        if role == "files":
            with wh.transaction():
                landed = land(wh, "bench", DATASET, FilePage(path, "jsonl"), 0, since, until)
                result = merge_batch(wh, "bench", DATASET)
        else:
            settings = SourceSettings.model_validate(
                {"base_url": args.base_url, "token": TOKEN, "page_size": args.limit}
            )
            source = make_source(settings)
            try:
                result = load_dataset(wh, source, Window(DATASET, since, until), "bench")
            finally:
                source.close()
            landed = result.landed
        seconds, cpu = time.perf_counter() - clock, time.process_time() - cpu
        rows = wh.rows("select count(*) from core.orders")[0][0]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "landed": landed,
        "quarantined": result.quarantined,
        "rows": rows,
    }


def _dlt(db: Path, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    since, until = _window(args)
    source = rest_api_source(
        {
            "client": {
                "base_url": args.base_url,
                "auth": {"type": "bearer", "token": TOKEN},
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "next_cursor",
                    "cursor_param": "cursor",
                },
            },
            "resources": [
                {
                    "name": DATASET,
                    "primary_key": list(KEY),
                    "write_disposition": "merge",
                    "endpoint": {
                        "path": f"v1/exports/{DATASET}",
                        "params": {
                            "since": since.isoformat(),
                            "until": until.isoformat(),
                            "limit": args.limit,
                        },
                        "data_selector": "items",
                    },
                }
            ],
        }
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_ingest",
        destination=dlt.destinations.duckdb(str(db)),
        dataset_name="bench",
        pipelines_dir=str(workdir / "dlt"),
    )
    clock, cpu = _start()
    pipeline.run(source)
    seconds, cpu = time.perf_counter() - clock, time.process_time() - cpu
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(f"select count(*) from bench.{DATASET}").fetchall()[0][0]
    con.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": rows, "version": dlt.__version__}


def _window(args: argparse.Namespace) -> tuple[datetime, datetime]:
    since = datetime.fromisoformat(args.since)
    return since, since + timedelta(hours=args.hours)


def dlt_available() -> bool:
    return importlib.util.find_spec("dlt") is not None


def measure(
    hours: int, *, with_dlt: bool = True, limit: int = 5000, memory_limit: str | None = None
) -> dict[str, Any]:
    """Every role on the same window of `hours` hours of orders; the figures and checks."""
    with (
        serving("mid", days=max(2, hours // 24 + 3)) as backend,
        tempfile.TemporaryDirectory(prefix="shoppulse-bench-ingest-") as tmp,
    ):
        # a day in, so the window holds late updates of earlier lines as well as new ones
        since = (backend.start + timedelta(days=1)).astimezone(UTC)
        common = [
            "--base-url",
            backend.base_url,
            "--since",
            since.isoformat(),
            "--hours",
            str(hours),
            "--limit",
            str(limit),
            "--workdir",
            tmp,
            *(["--memory-limit", memory_limit] if memory_limit else []),
        ]
        out: dict[str, Any] = {"hours": hours, "page_size": limit}
        # the first pass pages a cold simulator (it generates the window's hours then); the
        # floor is the second, against the warm one that ours and dlt page after it
        out["page_cold"] = run_child("bench.ingest", "--role", "page", *common)
        for role in ("page", "raw", "files", "http"):
            out[role] = run_child("bench.ingest", "--role", role, *common)
        if with_dlt and dlt_available():
            env = {"RUNTIME__DLTHUB_TELEMETRY": "false", "DLT_DATA_DIR": str(Path(tmp) / "dlt")}
            out["dlt"] = run_child("bench.ingest", "--role", "dlt", *common, env=env)
        elif with_dlt:
            out["dlt"] = {"error": "dlt is not installed (pip install -e '.[bench]')"}
        else:
            out["dlt"] = {"error": "skipped (--no-dlt)"}
    out["checks"] = _checks(out)
    return out


def _checks(out: dict[str, Any]) -> list[str]:
    """Where the row counts disagree (an empty list when they all agree)."""
    problems = []
    raw, records = out["raw"], out["page"]["records"]
    if raw["rows"] != records:
        problems.append(f"raw read_json has {raw['rows']} rows, the pages {records} records")
    for role in ("files", "http"):
        if out[role]["landed"] != records:
            problems.append(f"{role} landed {out[role]['landed']} of {records} records")
        if out[role]["rows"] != raw["keys"]:
            problems.append(f"{role}: core.orders has {out[role]['rows']} rows, {raw['keys']} keys")
    dlt_rows = out["dlt"].get("rows")
    if dlt_rows is not None and dlt_rows != raw["keys"]:
        problems.append(f"dlt table has {dlt_rows} rows, {raw['keys']} keys")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hours", type=int, default=200, help="orders window length")
    parser.add_argument("--limit", type=int, default=5000, help="page size")
    parser.add_argument("--no-dlt", action="store_true")
    parser.add_argument(
        "--memory-limit", help="warehouse.memory_limit for ours (e.g. 512MB); default DuckDB's"
    )
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--role", choices=["page", "raw", "files", "http", "dlt"])
    parser.add_argument("--base-url")
    parser.add_argument("--since")
    parser.add_argument("--workdir")
    args = parser.parse_args(argv)
    if args.role is None:
        out = measure(
            args.hours, with_dlt=not args.no_dlt, limit=args.limit, memory_limit=args.memory_limit
        )
        _print(out)
        if args.json:
            write_answer(args.json, out)
        # a mismatch is in the figures (and printed); the suite reports it
        return 0
    workdir = Path(args.workdir)
    export = workdir / "orders.jsonl"
    since, until = _window(args)
    if args.role == "page":
        answer = _page(args.base_url, since, until, export, args.limit)
    elif args.role == "raw":
        answer = _raw(export, workdir / "raw.duckdb")
    elif args.role == "dlt":
        answer = _dlt(workdir / "dlt.duckdb", workdir, args)
    else:
        answer = _ours(args.role, export, workdir / f"{args.role}.duckdb", args)
    answer["pid"] = os.getpid()
    write_answer(args.json, answer)
    return 0


def _print(out: dict[str, Any]) -> None:
    records = out["page"]["records"]
    raw = out["raw"]["seconds"]
    print(f"orders: {records:,} records in {out['page']['pages']} pages over {out['hours']} h")
    print(f"{'run':<34}{'seconds':>9}{'records/s':>12}{'vs raw':>8}{'CPU s':>7}{'peak MB':>9}")
    for role, label in (
        ("page_cold", "page over HTTP, simulator cold"),
        ("page", "page over HTTP only (floor)"),
        ("raw", "duckdb read_json (raw)"),
        ("files", "shoppulse files load"),
        ("http", "shoppulse HTTP extract + load"),
        ("dlt", "dlt rest_api -> duckdb"),
    ):
        figures = out[role]
        if "seconds" not in figures:
            print(f"{label:<34}{figures.get('error', '')}")
            continue
        s = figures["seconds"]
        rate = records / s
        cpu = figures.get("cpu_seconds")
        cpu_text = f"{cpu:>7.2f}" if cpu is not None else f"{'':>7}"
        print(
            f"{label:<34}{s:>9.2f}{rate:>12,.0f}{raw / s:>8.2f}{cpu_text}"
            f"{figures['peak_rss_mb']:>9.0f}"
        )
    for problem in out["checks"]:
        print(f"ROW COUNT MISMATCH: {problem}")


if __name__ == "__main__":
    raise SystemExit(main())
