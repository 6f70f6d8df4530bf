"""The single writer of a backfill: merge staged chunks into the warehouse, in order.

Each chunk's typed rows (`flows.chunks`) enter core through `flows.warehouse.load.merge_staged`, the
same merge as the hourly run's, and the marts they touched are refreshed. With alerts off a
chunk is one transaction; with `record` or `deliver` it is loaded hour by hour and the rules
evaluate each hour right after it is loaded, so they see only what the live run would have
seen at the end of that hour. They run on a second connection while the next hour merges, and
that hour commits only after they finish, so they never see it. The marts no rule reads (daily
KPIs, keywords, service and reviews) are refreshed once, with the chunk's last hour. Every chunk
is recorded in `ops.backfill_chunks`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import copy_context
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from flows.chunks import Chunk, StagedChunk, batch_id, hour_starts
from flows.settings import Settings
from flows.warehouse import Warehouse
from flows.warehouse.coverage import kpi_needs, record_coverages
from flows.warehouse.load import LoadResult, merge_staged, staged_fingerprint
from flows.warehouse.marts import refresh_daily_marts, refresh_marts
from transforms.time import HOUR

__all__ = [
    "ChunkOutcome",
    "Hook",
    "advance_watermarks",
    "evaluate_rules",
    "load_chunk",
    "loaded_spans",
    "record_chunk",
]

Hook = Callable[..., Any]


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


def evaluate_rules(wh: Warehouse, settings: Settings, hour: datetime, mode: str) -> None:
    """The rules for one replayed hour, as the live run at its end would have run them."""
    from flows.rules_runner import evaluate_and_dispatch

    evaluate_and_dispatch(wh, settings, hour, mode=mode, now=hour + HOUR)  # type: ignore[arg-type]


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
    if not wh.rows(f"select exists (select 1 from {table})")[0][0]:
        # an hour without rows of the dataset (dimensions rarely change): nothing to merge
        wh.execute(f"drop table {table}")
        return LoadResult(dataset)
    batch = batch_id(staged.chunk, dataset)
    wh.execute(
        f"insert into raw.records"
        f" (batch_id, dataset, seq, record, window_at, record_hash, key_hash)"
        f" select $batch, $dataset, seq, record, {staged_fingerprint(dataset)} from {table}",
        {"batch": batch, "dataset": dataset},
    )
    return merge_staged(wh, batch, dataset, table)


def _touched(results: list[LoadResult]) -> pl.Series:
    series = [r.touched for r in results if r.touched.len()]
    if not series:
        return pl.Series("t", [], pl.Datetime("us", "UTC"))
    return pl.concat(series).unique().sort()


def record_chunk(wh: Warehouse, backfill_id: str, alerts: str, outcome: ChunkOutcome) -> None:
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
    hook: Hook | None = evaluate_rules,
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
    needs = kpi_needs(settings.source.datasets)
    tz = settings.shop.timezone
    # hour by hour, the marts no rule reads wait for the chunk's last hour (one refresh)
    later: list[pl.Series] = []
    later_covered: set[datetime] = set()
    replay = hook if alerts != "off" else None
    with _beside(wh, replay) as rules:
        for index, hour in enumerate(hours):
            last = index == len(hours) - 1
            with wh.transaction():
                merged = [_merge_slice(wh, staged, d, hour, index == 0) for d in datasets]
                # the chunk's window (or this hour of it) counts as extracted for each dataset
                since, until = (chunk.start, chunk.end) if hour is None else (hour, hour + HOUR)
                batches = {d: batch_id(chunk, d) for d in datasets}
                flagged = record_coverages(wh, batches, since, until)
                touched = _touched(merged)
                outcome.hours_refreshed += refresh_marts(
                    wh, tz, touched, covered=flagged, needs=needs, daily=hour is None
                )
                if hour is not None:
                    later.append(touched)
                    later_covered.update(flagged)
                    if last:
                        refresh_daily_marts(
                            wh, tz, pl.concat(later), covered=sorted(later_covered), needs=needs
                        )
                _count(outcome, merged)
                if last:
                    outcome.load_seconds = time.monotonic() - clock
                    record_chunk(wh, backfill_id, alerts, outcome)
                # the previous hour's rules end before this hour commits: they saw that hour
                outcome.hours_evaluated += rules.wait()
            if hour is not None:
                rules.start(settings, hour, alerts)
        outcome.hours_evaluated += rules.wait()
    outcome.load_seconds = time.monotonic() - clock
    return outcome


class _Rules:
    """One replayed hour's hook at a time, on a second connection in a thread of its own."""

    def __init__(self, wh: Warehouse | None, hook: Hook | None) -> None:
        self.wh, self.hook = wh, hook
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="replay-rules") if wh else None
        self.pending: Future[Any] | None = None

    def start(self, settings: Settings, hour: datetime, mode: str) -> None:
        if self.pool is None or self.hook is None:
            return
        # the thread sees the caller's context (Prefect's run context, its logger)
        run = copy_context().run
        self.pending = self.pool.submit(run, self.hook, self.wh, settings, hour, mode)

    def wait(self) -> int:
        """Wait for the hour under evaluation, raising its error; 1 if there was one."""
        pending, self.pending = self.pending, None
        if pending is None:
            return 0
        pending.result()
        return 1


@contextmanager
def _beside(wh: Warehouse, hook: Hook | None) -> Iterator[_Rules]:
    """The replay's rules beside the writer; on the way out, whatever happened, the hour under
    evaluation finishes before its connection closes."""
    reader = wh.cursor() if hook is not None else None
    rules = _Rules(reader, hook)
    try:
        yield rules
    finally:
        if rules.pool is not None:
            rules.pool.shutdown(wait=True)
        if reader is not None:
            reader.close()


def _count(outcome: ChunkOutcome, results: list[LoadResult]) -> None:
    for result in results:
        outcome.loaded[result.dataset] = outcome.loaded.get(result.dataset, 0) + result.loaded
        if result.quarantined:
            q = outcome.quarantined.get(result.dataset, 0)
            outcome.quarantined[result.dataset] = q + result.quarantined


def loaded_spans(wh: Warehouse, alerts: str) -> list[tuple[datetime, datetime]]:
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


def advance_watermarks(wh: Warehouse, datasets: tuple[str, ...], origin: datetime) -> None:
    """Move each watermark over history backfilled without a gap from where it stands.

    A dataset with no watermark yet starts from `origin` (the backfill's start), so the next
    hourly run continues after the backfill instead of leaving a hole behind its lookback; a
    failed chunk stops the watermark before it.
    """
    spans = loaded_spans(wh, "off")
    for dataset in datasets:
        mark = wh.watermark(dataset)
        at = origin if mark is None else mark
        target = next((end for start, end in spans if start <= at <= end), None)
        if target is not None and (mark is None or target > mark):
            wh.set_watermark(dataset, target)
