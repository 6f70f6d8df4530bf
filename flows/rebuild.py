"""Rebuilding a range of history as plain functions; `flows.backfill` is its Prefect flow.

The range is split into chunks (a local day by default). An executor extracts and types
chunks in parallel (`flows.chunks`: threads here, a Prefect task runner in the flow) while
the caller's thread is the single writer (`flows.warehouse.writer`), loading them in order under the
warehouse's writer guard. Each chunk is recorded, so a rerun is idempotent and `resume`
skips what is loaded; the watermarks move over history loaded without a gap.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from flows.chunks import Chunk, StagedChunk, extract_chunk, plan_chunks
from flows.clock import hour_end, hour_start, parse_instant
from flows.errors import BackfillError
from flows.settings import Settings
from flows.warehouse import Warehouse, read_sql
from flows.warehouse.lock import writing
from flows.warehouse.marts import refresh_rfm
from flows.warehouse.writer import (
    ChunkOutcome,
    Hook,
    advance_watermarks,
    evaluate_rules,
    load_chunk,
    loaded_spans,
    record_chunk,
)
from transforms.time import HOUR

__all__ = [
    "ALERT_MODES",
    "AlertMode",
    "BackfillRequest",
    "ChunkExecutor",
    "HourReplayed",
    "LoadFn",
    "Progress",
    "backfill_shop",
    "crashed",
    "failure_message",
    "make_request",
    "plain_backfill",
    "progress_listener",
    "replay_listener",
]

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


@dataclass(frozen=True)
class Progress:
    """A backfill's progress after a chunk: shown on the terminal and as a Prefect artifact."""

    shop: str
    done: int
    total: int
    outcome: ChunkOutcome | None = None


_listeners: list[Callable[[Progress], None]] = []

E = TypeVar("E")


@contextmanager
def _registered(
    listeners: list[Callable[[E], None]], listener: Callable[[E], None]
) -> Iterator[None]:
    """`listener` in `listeners` while the block runs."""
    listeners.append(listener)
    try:
        yield
    finally:
        listeners.remove(listener)


def progress_listener(listener: Callable[[Progress], None]) -> AbstractContextManager[None]:
    """Call `listener` with each backfill's progress while the block runs (the CLI's bar)."""
    return _registered(_listeners, listener)


def _notify(event: Progress) -> None:
    for listener in list(_listeners):
        listener(event)


@dataclass(frozen=True)
class HourReplayed:
    """An hour whose alerts a backfill has just replayed, with the KPIs it then had."""

    shop: str
    hour: datetime
    kpis: dict[str, Any]


_hour_listeners: list[Callable[[HourReplayed], None]] = []


def replay_listener(listener: Callable[[HourReplayed], None]) -> AbstractContextManager[None]:
    """Call `listener` after each hour a backfill replays alerts for, while the block runs."""
    return _registered(_hour_listeners, listener)


def _replay_hook(shop: str) -> Hook:
    """Evaluate a replayed hour's rules, then tell the replay listeners (`shoppulse demo`)."""

    def hook(wh: Warehouse, settings: Settings, hour: datetime, mode: str) -> None:
        evaluate_rules(wh, settings, hour, mode)
        if not _hour_listeners:
            return
        rows = wh.frame(read_sql("reads/digest_kpi_hourly"), {"start": hour, "end": hour + HOUR})
        kpis = {k: v for k, v in rows.to_dicts()[0].items() if k != "hour"} if len(rows) else {}
        for listener in list(_hour_listeners):
            listener(HourReplayed(shop, hour, kpis))

    return hook


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


def _last_midnight(request: BackfillRequest, settings: Settings) -> datetime | None:
    tz = settings.shop.tz
    day = request.end.astimezone(tz).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    return midnight if request.start < midnight <= request.end else None


class ChunkExecutor(Protocol):
    """Where chunks are extracted: `submit` starts one and returns a call that waits for it."""

    window: int

    def submit(self, chunk: Chunk) -> Callable[[], StagedChunk]: ...


LoadFn = Callable[[Warehouse, Settings, StagedChunk, str, str, Hook | None], ChunkOutcome]


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
                    record_chunk(wh, backfill_id, request.alerts, outcome)
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
    hook = _replay_hook(settings.shop.name) if request.alerts != "off" else None
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
    with writing(settings, holder) as wh:
        skipped: list[ChunkOutcome] = []
        if request.resume:
            spans = loaded_spans(wh, request.alerts)
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
        try:
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
        except BaseException as exc:
            # loaded chunks stay loaded (and recorded): --resume continues from here
            wh.record_run(
                {**run, "finished_at": datetime.now(UTC), "status": "failed", "error": repr(exc)}
            )
            raise
        finally:
            shutil.rmtree(folder / backfill_id, ignore_errors=True)
            with suppress(OSError):
                folder.rmdir()  # only when no other backfill is staging there
        with wh.transaction():
            advance_watermarks(wh, settings.source.datasets, request.start)
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
                return crashed(chunk, exc)

        return wait


def crashed(chunk: Chunk, value: object) -> StagedChunk:
    return StagedChunk(chunk, error=f"extracting the chunk crashed: {value!r}"[:500])


def plain_backfill(
    settings: Settings, request: BackfillRequest, *, workers: int = 4
) -> dict[str, Any]:
    """The same backfill with no Prefect at all: a thread pool and plain function calls."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return backfill_shop(
            settings, request, lambda staging: _ThreadExecutor(settings, staging, pool, workers + 1)
        )
