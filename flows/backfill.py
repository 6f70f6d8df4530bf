"""Backfill: rebuild a range of history in chunks extracted in parallel and loaded by one writer.

The range is split into chunks (a local day by default). Each chunk is extracted and typed on
a task runner (threads, or Dask workers) into Parquet files (`flows.chunks`); the flow's own
thread is the single writer: it merges the chunks into the warehouse in order, refreshes the
marts they touched and records each chunk in `ops.backfill_chunks`, so a rerun is idempotent
and `--resume` skips what is loaded. With alerts `record` or `deliver` the writer loads each
chunk hour by hour and evaluates the rules after each hour, seeing only what the live run
would have seen at the end of that hour.
"""

from __future__ import annotations

import importlib
import inspect
import shutil
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.chunks import Chunk, StagedChunk, batch_id, extract_chunk, hour_starts, plan_chunks
from flows.clock import hour_end, hour_start, parse_instant
from flows.concurrency import warehouse_writer
from flows.errors import BackfillError
from flows.load import LoadResult, merge_staged
from flows.marts import refresh_marts, refresh_rfm
from flows.report import create_progress, publish_backfill_artifacts, update_progress
from flows.secrets import run_env
from flows.settings import Settings, load_settings
from flows.warehouse import Warehouse

__all__ = [
    "ALERT_MODES",
    "BackfillRequest",
    "ChunkOutcome",
    "Progress",
    "backfill",
    "backfill_shop",
    "load_chunk",
    "make_request",
    "plain_backfill",
    "progress_listener",
    "rules_hook",
]

HOUR = timedelta(hours=1)
ALERT_MODES = ("off", "record", "deliver")
AlertMode = Literal["off", "record", "deliver"]


@dataclass(frozen=True)
class BackfillRequest:
    """What to rebuild: [start, end) on hour starts, how to chunk it, and what to do with alerts."""

    start: datetime
    end: datetime
    alerts: str = "off"
    chunk_hours: int = 24
    resume: bool = False


@dataclass
class ChunkOutcome:
    """What happened to one chunk."""

    chunk: Chunk
    status: str  # loaded | failed | skipped | not-run
    loaded: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    hours_refreshed: int = 0
    hours_evaluated: int = 0
    error: str | None = None
    failed_dataset: str | None = None
    extract_seconds: float = 0.0
    load_seconds: float = 0.0


@dataclass(frozen=True)
class Progress:
    """A backfill's progress after a chunk: shown on the terminal and as a Prefect artifact."""

    shop: str
    done: int
    total: int
    outcome: ChunkOutcome | None = None


_listeners: list[Callable[[Progress], None]] = []


@contextmanager
def progress_listener(listener: Callable[[Progress], None]) -> Iterator[None]:
    """Call `listener` with each backfill's progress while the block runs (the CLI's bar)."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def _notify(event: Progress) -> None:
    for listener in list(_listeners):
        listener(event)


def make_request(
    settings: Settings,
    start: str,
    end: str,
    *,
    alerts: str = "off",
    chunk_hours: int = 24,
    resume: bool = False,
    now: datetime | None = None,
) -> BackfillRequest:
    """Read --start/--end on the shop's clock: start floors and end ceils to an hour, and end
    stops at the last whole hour (nothing after it exists yet)."""
    if alerts not in ALERT_MODES:
        raise BackfillError(f"alerts must be one of {', '.join(ALERT_MODES)}, not {alerts!r}")
    tz = settings.shop.tz
    lo = hour_start(parse_instant(start, tz), tz)
    end_at = parse_instant(end, tz)
    hi = hour_start(end_at, tz)
    if hi < end_at:
        hi += HOUR
    hi = min(hi, hour_end(None, tz, now))
    if lo >= hi:
        raise BackfillError(
            f"nothing to backfill: start {lo.astimezone(tz).isoformat()} is not before end"
            f" {hi.astimezone(tz).isoformat()} (the end stops at the last whole hour)"
        )
    return BackfillRequest(lo, hi, alerts, chunk_hours, resume)


# -- the rules hook ------------------------------------------------------------------------


def rules_hook() -> Callable[..., Any] | None:
    """The rules engine's per-hour entry point, `flows.rules_runner.evaluate_and_dispatch`.

    Called as `evaluate_and_dispatch(wh, settings, hour, mode=..., now=...)` once per replayed
    hour, after that hour is loaded and its marts refreshed; `hour` is the UTC start of the
    evaluated hour, `now` its end (passed only if the function accepts it). None when the
    rules engine is not installed.
    """
    try:
        module = importlib.import_module("flows.rules_runner")
    except ModuleNotFoundError as exc:
        if exc.name != "flows.rules_runner":
            raise
        return None
    hook = getattr(module, "evaluate_and_dispatch", None)
    return hook if callable(hook) else None


def _evaluate(
    hook: Callable[..., Any], wh: Warehouse, settings: Settings, hour: datetime, mode: str
) -> None:
    kwargs: dict[str, Any] = {"mode": mode}
    if "now" in inspect.signature(hook).parameters:
        kwargs["now"] = hour + HOUR
    hook(wh, settings, hour, **kwargs)


# -- the writer ------------------------------------------------------------------------------


def _merge_slice(
    wh: Warehouse,
    staged: StagedChunk,
    dataset: str,
    hour: datetime | None,
    first: bool,
) -> LoadResult:
    """Merge the staged rows of one dataset: all of them, or those of one hour of the chunk.

    The first hour also takes rows stamped before the chunk (dimensions pulled from the
    beginning) and rows whose window instant did not parse (they are quarantined).
    """
    table = f"_stg_{dataset}"
    params: dict[str, Any] = {"path": staged.files[dataset]}
    where = "true"
    if hour is not None:
        params["hi"] = hour + HOUR
        where = "(_at is null or _at < $hi)" if first else "_at >= $lo and _at < $hi"
        if not first:
            params["lo"] = hour
    wh.execute(
        f"create or replace temp table {table} as"
        f" select * exclude (_at) from read_parquet($path) where {where}",
        params,
    )
    batch = batch_id(staged.chunk, dataset)
    wh.execute(
        f"insert into raw.records (batch_id, dataset, seq, record)"
        f" select $batch, $dataset, seq, record from {table}",
        {"batch": batch, "dataset": dataset},
    )
    return merge_staged(wh, batch, dataset, table)


def _touched(results: list[LoadResult]) -> pl.Series:
    series = [r.touched for r in results if r.touched.len()]
    if not series:
        return pl.Series("t", [], pl.Datetime("us", "UTC"))
    return pl.concat(series).unique().sort()


def _record_chunk(wh: Warehouse, backfill_id: str, alerts: str, outcome: ChunkOutcome) -> None:
    wh.execute(
        "insert or replace into ops.backfill_chunks values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            backfill_id,
            outcome.chunk.start,
            outcome.chunk.end,
            alerts,
            outcome.status,
            {d: n for d, n in outcome.loaded.items()},
            outcome.failed_dataset,
            outcome.error,
            outcome.extract_seconds + outcome.load_seconds,
            datetime.now(UTC),
        ],
    )


def load_chunk(
    wh: Warehouse,
    settings: Settings,
    staged: StagedChunk,
    backfill_id: str,
    alerts: str = "off",
    hook: Callable[..., Any] | None = None,
) -> ChunkOutcome:
    """Merge one staged chunk into the warehouse and refresh the marts it touched.

    Alerts off: the whole chunk in one transaction. Record/deliver: hour by hour, each hour in
    its own transaction, then `hook` evaluates that hour. The chunk's raw batches are replaced,
    so loading a chunk twice leaves the warehouse as loading it once.
    """
    clock = time.monotonic()
    chunk = staged.chunk
    outcome = ChunkOutcome(chunk, "loaded", extract_seconds=staged.seconds)
    datasets = [d for d in settings.source.datasets if d in staged.files]
    hours: list[datetime | None] = [None] if alerts == "off" else list(hour_starts(chunk))
    wh.execute(
        "delete from raw.records where batch_id in (select unnest($batches))",
        {"batches": [batch_id(chunk, d) for d in datasets]},
    )
    for index, hour in enumerate(hours):
        with wh.transaction():
            merged = [_merge_slice(wh, staged, d, hour, index == 0) for d in datasets]
            outcome.hours_refreshed += refresh_marts(wh, settings.shop.timezone, _touched(merged))
            _count(outcome, merged)
            if index == len(hours) - 1:
                outcome.load_seconds = time.monotonic() - clock
                _record_chunk(wh, backfill_id, alerts, outcome)
        if hour is not None and hook is not None:
            _evaluate(hook, wh, settings, hour, alerts)
            outcome.hours_evaluated += 1
    outcome.load_seconds = time.monotonic() - clock
    return outcome


def _count(outcome: ChunkOutcome, results: list[LoadResult]) -> None:
    for result in results:
        outcome.loaded[result.dataset] = outcome.loaded.get(result.dataset, 0) + result.loaded
        if result.quarantined:
            q = outcome.quarantined.get(result.dataset, 0)
            outcome.quarantined[result.dataset] = q + result.quarantined


def _loaded_spans(wh: Warehouse, alerts: str) -> list[tuple[datetime, datetime]]:
    """Merged [start, end) spans of chunks any backfill loaded (with alerts, if asked)."""
    sql = "select chunk_start, chunk_end from ops.backfill_chunks where status = 'loaded'"
    if alerts != "off":
        sql += " and alerts = ?"
    rows = wh.rows(sql + " order by chunk_start", [alerts] if alerts != "off" else None)
    spans: list[tuple[datetime, datetime]] = []
    for start, end in rows:
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


def _advance_watermarks(wh: Warehouse, datasets: tuple[str, ...], origin: datetime) -> None:
    """Move each watermark over history backfilled without a gap from where it stands.

    A dataset with no watermark yet starts from `origin` (the backfill's start), so the next
    hourly run continues after the backfill instead of leaving a hole behind its lookback; a
    failed chunk stops the watermark before it.
    """
    spans = _loaded_spans(wh, "off")
    for dataset in datasets:
        mark = wh.watermark(dataset)
        at = origin if mark is None else mark
        target = next((end for start, end in spans if start <= at <= end), None)
        if target is not None and (mark is None or target > mark):
            wh.set_watermark(dataset, target)


def _last_midnight(request: BackfillRequest, settings: Settings) -> datetime | None:
    tz = settings.shop.tz
    day = request.end.astimezone(tz).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    return midnight if request.start < midnight <= request.end else None


# -- driving the chunks -------------------------------------------------------------------------


class ChunkExecutor(Protocol):
    """Where chunks are extracted: `submit` starts one and returns a call that waits for it."""

    window: int

    def submit(self, chunk: Chunk) -> Callable[[], StagedChunk]: ...


LoadFn = Callable[
    [Warehouse, Settings, StagedChunk, str, str, Callable[..., Any] | None], ChunkOutcome
]


def _drive(
    wh: Warehouse,
    settings: Settings,
    request: BackfillRequest,
    backfill_id: str,
    chunks: list[Chunk],
    executor: ChunkExecutor,
    load: LoadFn,
    hook: Callable[..., Any] | None,
    done: int,
    total: int,
) -> list[ChunkOutcome]:
    """Extract ahead on the executor (at most `window` chunks in flight), load in order."""
    outcomes: list[ChunkOutcome] = []
    pending: deque[tuple[Chunk, Callable[[], StagedChunk]]] = deque()
    todo = iter(chunks)
    stopped = False

    def top_up() -> None:
        while not stopped and len(pending) < max(1, executor.window):
            chunk = next(todo, None)
            if chunk is None:
                return
            pending.append((chunk, executor.submit(chunk)))

    top_up()
    while pending:
        chunk, wait = pending.popleft()
        staged = wait()
        top_up()
        try:
            if stopped:
                outcome = ChunkOutcome(chunk, "not-run", error="an earlier chunk failed")
            elif staged.error:
                outcome = ChunkOutcome(
                    chunk,
                    "failed",
                    error=staged.error,
                    failed_dataset=staged.failed_dataset,
                    extract_seconds=staged.seconds,
                )
                with wh.transaction():
                    _record_chunk(wh, backfill_id, request.alerts, outcome)
                # replaying alerts past a hole would evaluate hours without their history
                stopped = request.alerts != "off"
            else:
                outcome = load(wh, settings, staged, backfill_id, request.alerts, hook)
        finally:
            if staged.files:
                shutil.rmtree(Path(next(iter(staged.files.values()))).parent, ignore_errors=True)
        outcomes.append(outcome)
        done += 1
        _notify(Progress(settings.shop.name, done, total, outcome))
    for chunk in todo:  # never submitted after a stop
        outcomes.append(ChunkOutcome(chunk, "not-run", error="an earlier chunk failed"))
    return outcomes


def backfill_shop(
    settings: Settings,
    request: BackfillRequest,
    executor_for: Callable[[Path], ChunkExecutor],
    *,
    load: LoadFn = load_chunk,
    staging: Path | None = None,
) -> dict[str, Any]:
    """Backfill one shop under its single-writer guard; returns the summary."""
    hook = None
    if request.alerts != "off":
        hook = rules_hook()
        if hook is None:
            raise BackfillError(
                f"--alerts {request.alerts} needs the rules engine"
                " (flows.rules_runner.evaluate_and_dispatch), which is not installed;"
                " run with --alerts off"
            )
    tz = settings.shop.tz
    clock = time.monotonic()
    started_at = datetime.now(UTC)
    backfill_id = uuid.uuid4().hex[:12]
    chunks = plan_chunks(request.start, request.end, tz, request.chunk_hours)
    holder = (
        f"backfill {backfill_id} of {settings.shop.name}"
        f" {request.start.astimezone(tz).isoformat()}..{request.end.astimezone(tz).isoformat()}"
    )
    path = settings.warehouse.path
    folder = staging or Path(str(path) + ".backfill")
    with (
        warehouse_writer(path, timeout=settings.warehouse.lock_timeout_seconds, holder=holder),
        Warehouse(path) as wh,
    ):
        skipped: list[ChunkOutcome] = []
        if request.resume:
            spans = _loaded_spans(wh, request.alerts)
            done = [c for c in chunks if any(s <= c.start and c.end <= e for s, e in spans)]
            skipped = [ChunkOutcome(c, "skipped") for c in done]
            chunks = [c for c in chunks if c not in done]
        run = {
            "run_id": backfill_id,
            "kind": "backfill",
            "started_at": started_at,
            "window_start": request.start,
            "window_end": request.end,
            "status": "running",
        }
        wh.record_run(run)
        total = len(chunks) + len(skipped)
        _notify(Progress(settings.shop.name, len(skipped), total))
        outcomes = skipped + _drive(
            wh,
            settings,
            request,
            backfill_id,
            chunks,
            executor_for(folder / backfill_id),
            load,
            hook,
            len(skipped),
            total,
        )
        shutil.rmtree(folder / backfill_id, ignore_errors=True)
        with wh.transaction():
            _advance_watermarks(wh, settings.source.datasets, request.start)
        failed = [o for o in outcomes if o.status in ("failed", "not-run")]
        midnight = _last_midnight(request, settings)
        rfm_buyers = None
        if midnight is not None and not failed:
            rfm_buyers = refresh_rfm(wh, settings.shop.timezone, midnight)
        summary = _summary(settings, request, backfill_id, outcomes, time.monotonic() - clock)
        summary["rfm_buyers"] = rfm_buyers
        wh.record_run(
            {
                **run,
                "finished_at": datetime.now(UTC),
                "status": "failed" if failed else "ok",
                "counts": summary["loaded"],
                "quarantined": sum(summary["quarantined"].values()),
                "duration_seconds": summary["seconds"],
                "error": "; ".join(f"{f['chunk']}: {f['error']}" for f in summary["failed"])
                or None,
            }
        )
    return summary


def _summary(
    settings: Settings,
    request: BackfillRequest,
    backfill_id: str,
    outcomes: list[ChunkOutcome],
    seconds: float,
) -> dict[str, Any]:
    tz = settings.shop.tz
    loaded: dict[str, int] = {}
    quarantined: dict[str, int] = {}
    for o in outcomes:
        for d, n in o.loaded.items():
            loaded[d] = loaded.get(d, 0) + n
        for d, n in o.quarantined.items():
            quarantined[d] = quarantined.get(d, 0) + n
    return {
        "shop": settings.shop.name,
        "backfill_id": backfill_id,
        "start": request.start.astimezone(tz).isoformat(),
        "end": request.end.astimezone(tz).isoformat(),
        "alerts": request.alerts,
        "chunks": len(outcomes),
        "chunks_loaded": sum(o.status == "loaded" for o in outcomes),
        "chunks_skipped": sum(o.status == "skipped" for o in outcomes),
        "loaded": loaded,
        "quarantined": quarantined,
        "hours_refreshed": sum(o.hours_refreshed for o in outcomes),
        "hours_evaluated": sum(o.hours_evaluated for o in outcomes),
        "failed": [
            {
                "chunk": o.chunk.label(tz),
                "start": o.chunk.start.astimezone(tz).isoformat(),
                "end": o.chunk.end.astimezone(tz).isoformat(),
                "status": o.status,
                "dataset": o.failed_dataset,
                "error": o.error,
            }
            for o in outcomes
            if o.status in ("failed", "not-run")
        ],
        "extract_seconds": round(sum(o.extract_seconds for o in outcomes), 3),
        "load_seconds": round(sum(o.load_seconds for o in outcomes), 3),
        "seconds": round(seconds, 3),
    }


def failure_message(summary: dict[str, Any]) -> str:
    """One line naming the failed chunks and how to rerun them."""
    failed = summary["failed"]
    first = failed[0]
    reasons = "; ".join(
        f"{f['chunk']} ({f['dataset'] or f['status']}: {f['error']})"
        for f in failed
        if f["status"] == "failed"
    )
    return (
        f"backfill of {summary['shop']}: {len(failed)} of {summary['chunks']} chunks not loaded:"
        f" {reasons}; rerun with --start {first['start']} --end {summary['end']} --resume"
    )


# -- executors: plain threads, or a Prefect task runner ------------------------------------------


class _ThreadExecutor:
    """Chunks on a plain thread pool: the backfill without Prefect (for the overhead bench)."""

    def __init__(self, settings: Settings, staging: Path, pool: ThreadPoolExecutor, window: int):
        self.settings, self.staging, self.pool, self.window = settings, staging, pool, window

    def submit(self, chunk: Chunk) -> Callable[[], StagedChunk]:
        future = self.pool.submit(extract_chunk, self.settings, chunk, self.staging)

        def wait() -> StagedChunk:
            try:
                return future.result()
            except Exception as exc:
                return _crashed(chunk, exc)

        return wait


def _crashed(chunk: Chunk, value: object) -> StagedChunk:
    return StagedChunk(chunk, error=f"extracting the chunk crashed: {value!r}"[:500])


def plain_backfill(
    settings: Settings, request: BackfillRequest, *, workers: int = 4
) -> dict[str, Any]:
    """The same backfill with no Prefect at all: a thread pool and plain function calls."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return backfill_shop(
            settings, request, lambda staging: _ThreadExecutor(settings, staging, pool, workers + 1)
        )


@task(name="extract-chunk", task_run_name="extract-{chunk.key}", cache_policy=NO_CACHE)
def extract_chunk_task(settings: Settings, chunk: Chunk, staging: str) -> StagedChunk | State:
    """Extract and type one chunk; a chunk whose export failed ends Failed, carrying why."""
    staged = extract_chunk(settings, chunk, Path(staging))
    if staged.error:
        return Failed(message=f"{staged.failed_dataset}: {staged.error}", data=staged)
    return staged


@task(name="load-chunk", task_run_name="load-{staged.chunk.key}", cache_policy=NO_CACHE)
def load_chunk_task(
    wh: Warehouse,
    settings: Settings,
    staged: StagedChunk,
    backfill_id: str,
    alerts: str,
    hook: Callable[..., Any] | None,
) -> ChunkOutcome:
    return load_chunk(wh, settings, staged, backfill_id, alerts, hook)


def _load_with_task(
    wh: Warehouse,
    settings: Settings,
    staged: StagedChunk,
    backfill_id: str,
    alerts: str,
    hook: Callable[..., Any] | None,
) -> ChunkOutcome:
    return load_chunk_task(wh, settings, staged, backfill_id, alerts, hook)


class _RunnerExecutor:
    """Chunks as `extract-chunk` task runs on a Prefect task runner (threads or Dask)."""

    def __init__(self, runner: Any, settings: Settings, staging: Path, window: int) -> None:
        self.runner, self.settings, self.staging, self.window = runner, settings, staging, window

    def submit(self, chunk: Chunk) -> Callable[[], StagedChunk]:
        future = self.runner.submit(
            extract_chunk_task,
            {"settings": self.settings, "chunk": chunk, "staging": str(self.staging)},
        )

        def wait() -> StagedChunk:
            value = future.result(raise_on_failure=False)
            if isinstance(value, StagedChunk):
                return value
            return _crashed(chunk, value)

        return wait


def task_runner(workers: int, dask_address: str | None) -> Any:
    """Threads by default; prefect-dask's DaskTaskRunner on the scheduler at `dask_address`."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    return ThreadPoolTaskRunner(max_workers=workers)


@flow(name="backfill", log_prints=True)
def backfill(
    start: str,
    end: str,
    config: str = "shoppulse.yaml",
    alerts: AlertMode = "off",
    chunk_hours: int = 24,
    workers: int = 4,
    dask_address: str | None = None,
    resume: bool = False,
    staging: str | None = None,
) -> dict[str, Any] | State:
    """Rebuild [start, end) of a shop's history: chunks extract in parallel, one writer loads.

    `start`/`end` are ISO times (no offset: the shop's clock); `alerts` off | record |
    deliver; `dask_address` a Dask scheduler to extract on instead of `workers` threads;
    `resume` skips chunks an earlier backfill loaded; `staging` is where chunks are staged
    (default beside the warehouse; Dask workers on other machines need a shared folder).
    """
    settings = load_settings(config, env=run_env())
    request = make_request(
        settings, start, end, alerts=alerts, chunk_hours=chunk_hours, resume=resume
    )
    window = max(1, workers) + 1
    with task_runner(max(1, workers), dask_address) as runner, _progress_artifact(settings):
        summary = backfill_shop(
            settings,
            request,
            lambda folder: _RunnerExecutor(runner, settings, folder, window),
            load=_load_with_task,
            staging=Path(staging) if staging else None,
        )
    publish_backfill_artifacts(summary)
    if summary["failed"]:
        return Failed(message=failure_message(summary), data=summary)
    return summary


@contextmanager
def _progress_artifact(settings: Settings) -> Iterator[None]:
    """Mirror this shop's progress into a Prefect progress artifact while the block runs."""
    artifact = create_progress(settings.shop.name)

    def listener(event: Progress) -> None:
        if artifact is not None and event.shop == settings.shop.name and event.total:
            update_progress(artifact, 100.0 * event.done / event.total)

    with progress_listener(listener):
        yield
