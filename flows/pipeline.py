"""The hourly pipeline as plain functions: plan windows, load each dataset, refresh marts."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import polars as pl

from flows.clock import hour_start
from flows.errors import ExportError
from flows.settings import Settings
from flows.warehouse import Warehouse
from flows.warehouse.coverage import kpi_needs, record_coverage
from flows.warehouse.load import (
    LoadResult,
    land,
    land_new,
    landing,
    merge_batch,
    raw_holds,
    receive,
    record_batch,
)
from flows.warehouse.marts import refresh_marts
from sources import ExportSource, ReadAhead
from transforms.coverage import covered_hours
from transforms.rules.data_gap import ALERTNAME as DATA_GAP

__all__ = [
    "RunResult",
    "Window",
    "evaluate",
    "finish_run",
    "load_dataset",
    "load_window",
    "not_provided",
    "plan_windows",
    "refresh",
    "run_hour",
    "start_run",
]

DIMENSIONS = ("products", "promotions")
# records per landing step of a window (each step typed and merged on its own). Not smaller:
# DuckDB keeps what a transaction wrote to temp tables until it commits, so inside the one
# transaction of a window smaller steps cost memory (measured: a first load of 696k order
# records peaked at 1,189 MB in steps of 100k, 965 MB in one step)
LAND_EVERY = 1_000_000


@dataclass(frozen=True)
class Window:
    """The export window of one dataset: since (inclusive, None = everything) to until."""

    dataset: str
    since: datetime | None
    until: datetime


@dataclass
class RunResult:
    """What one run did, per dataset, and what failed."""

    run_id: str
    until: datetime
    kind: str = "hourly"
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    clock: float = field(default_factory=time.monotonic)
    windows: list[Window] = field(default_factory=list)
    loads: dict[str, LoadResult] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    # per dataset, the hours its committed window covered
    covered: dict[str, list[datetime]] = field(default_factory=dict)
    not_provided: list[str] = field(default_factory=list)
    # datasets the data_gap rule found missing in the hour the run closed, and why
    gaps: list[str] = field(default_factory=list)
    gap_detail: str = ""
    # datasets whose load quarantined more than this share of its records (the run's
    # source.max_quarantine_ratio; 1.0 never), and why
    max_quarantine_ratio: float = 1.0
    too_dirty: dict[str, str] = field(default_factory=dict)
    hours_refreshed: int = 0
    duration_seconds: float = 0.0

    @property
    def status(self) -> str:
        """ok; partial: an export failed or data is missing; failed: every export failed."""
        if self.failures and not self.loads:
            return "failed"
        return "partial" if self.failures or self.gaps or self.too_dirty else "ok"

    def problem(self) -> str | None:
        """One line saying what the run is missing, or None when it is complete."""
        if self.status == "ok":
            return None
        parts = []
        if self.failures:
            failed = "every export failed" if self.status == "failed" else "export failed"
            first = next(iter(self.failures.values()))
            parts.append(f"{failed} ({', '.join(self.failures)}); first: {first}")
        missing = [d for d in self.gaps if d not in self.failures]
        if missing:
            parts.append("no data where volume was expected: " + ", ".join(missing))
        parts += self.too_dirty.values()
        return "; ".join(parts)

    @property
    def covered_hours(self) -> list[datetime]:
        """Every hour some dataset's window covered in this run."""
        return sorted({h for hours in self.covered.values() for h in hours})

    @property
    def touched(self) -> pl.Series:
        series = [r.touched for r in self.loads.values() if r.touched.len()]
        if not series:
            return pl.Series("t", [], pl.Datetime("us", "UTC"))
        return pl.concat(series).unique().sort()


def plan_windows(
    wh: Warehouse, settings: Settings, until: datetime, provides: frozenset[str] | None = None
) -> list[Window]:
    """Each dataset's window: from its watermark minus the lookback, up to `until`.

    A first pull of a dimension omits `since`, so products and promotions set up before the
    first window are not missed; a first pull of a fact table reads the lookback window.
    """
    lookback = timedelta(hours=settings.source.lookback_hours)
    windows = []
    for dataset in settings.source.datasets:
        if provides is not None and dataset not in provides:
            continue
        mark = wh.watermark(dataset)
        if mark is None:
            since = None if dataset in DIMENSIONS else until - lookback
        else:
            since = min(mark, until) - lookback
        windows.append(Window(dataset, since, until))
    return windows


def load_dataset(
    wh: Warehouse, source: ExportSource, window: Window, batch_id: str, *, advance: bool = True
) -> LoadResult:
    """Stream one dataset's pages into raw and merge them into core, in one transaction.

    Records raw already holds unchanged (a lookback re-reads mostly those) are counted, not
    landed again; when raw holds nothing of the window yet (a first load) every record lands
    straight away. The new ones are typed and merged in steps of `LAND_EVERY` records. The
    watermark moves, and the window's hours count as covered (ops.coverage), only when the
    transaction commits; an export failure rolls it all back.
    """
    result = LoadResult(window.dataset)
    dataset, since, until = window.dataset, window.since, window.until
    with wh.transaction():
        compare = raw_holds(wh, dataset, since, until)
        # the next page is fetched while this one lands; a failed load stops the fetching
        with landing(wh), ReadAhead(source.pages(dataset, since, until)) as pages:
            received = merged = 0
            for page in pages:
                if compare:
                    received += receive(wh, dataset, page, received, since, until)
                else:
                    received += land(wh, batch_id, dataset, page, received, since, until)
                if received - merged >= LAND_EVERY:
                    result.add(_land_and_merge(wh, batch_id, dataset, merged, compare))
                    merged = received
            if received > merged:
                result.add(_land_and_merge(wh, batch_id, dataset, merged, compare))
        result.received = received
        record_batch(wh, batch_id, dataset, since, until, received, result.landed)
        record_coverage(wh, dataset, since, until, batch_id)
        if result.touched.len():
            wh.execute(
                "insert or ignore into ops.pending_refresh (t) select unnest($t::timestamptz[])",
                {"t": result.touched.to_list()},
            )
        if advance:
            mark = wh.watermark(dataset)
            if mark is None or until > mark:
                wh.set_watermark(dataset, until)
    return result


def _land_and_merge(
    wh: Warehouse, batch_id: str, dataset: str, after: int, compare: bool
) -> LoadResult:
    """Land the new records received after the first `after` (already landed unless
    `compare`) and merge them (their seq starts at after + 1); nothing new, no merge."""
    if compare and not land_new(wh, batch_id, dataset):
        return LoadResult(dataset)
    return merge_batch(wh, batch_id, dataset, after + 1)


def not_provided(settings: Settings, source: ExportSource) -> list[str]:
    """The configured datasets the source declares it cannot read (reported, never zeros)."""
    return [d for d in settings.source.datasets if d not in source.provides]


def start_run(
    wh: Warehouse, until: datetime, kind: str = "hourly", *, max_quarantine_ratio: float = 1.0
) -> RunResult:
    """Open a row in ops.runs for a run whose clock stands at `until`."""
    run = RunResult(
        run_id=uuid.uuid4().hex[:12],
        until=until,
        kind=kind,
        max_quarantine_ratio=max_quarantine_ratio,
    )
    wh.record_run(
        {
            "run_id": run.run_id,
            "kind": kind,
            "started_at": run.started_at,
            "window_end": until,
            "status": "running",
        }
    )
    return run


def load_window(wh: Warehouse, source: ExportSource, run: RunResult, window: Window) -> None:
    """Load one dataset's window into the run; an export failure is recorded, not raised.

    A failed export (after its retries, or refused at once: bad token, unknown dataset) leaves
    core and the watermark as they were and lands in ops.export_failures for the data_gap
    rule; the other datasets still load, and the run reports itself incomplete at its end.
    """
    run.windows.append(window)
    try:
        result = load_dataset(wh, source, window, f"{run.run_id}-{window.dataset}")
        run.loads[window.dataset] = result
        limit = run.max_quarantine_ratio
        if result.landed and result.quarantined / result.landed > limit:
            run.too_dirty[window.dataset] = (
                f"{window.dataset}: {result.quarantined} of {result.landed} records quarantined"
                f" ({result.quarantined / result.landed:.0%}), above"
                f" source.max_quarantine_ratio {limit:g} (see ops.quarantine)"
            )
        if window.since is not None:
            run.covered[window.dataset] = covered_hours(window.since, window.until)
    except ExportError as exc:
        run.failures[window.dataset] = str(exc)
        wh.execute(
            "insert into ops.export_failures values (?, ?, ?, ?, ?, ?)",
            [run.run_id, window.dataset, window.since, window.until, str(exc), datetime.now(UTC)],
        )


def evaluate(
    wh: Warehouse,
    settings: Settings,
    run: RunResult,
    mode: Literal["record", "deliver"] = "deliver",
) -> None:
    """Evaluate the rules for the hour the run closed, record and send the alerts, and note
    in the run which datasets the data_gap rule found missing."""
    from alerts import dispatch
    from flows.rules_runner import evaluate_hour

    hour = hour_start(run.until - timedelta(hours=1), settings.shop.tz)
    alerts, evaluated = evaluate_hour(wh, settings, hour)
    dispatch(wh, settings, hour, alerts, evaluated, mode=mode)
    for alert in alerts:
        if alert.alertname == DATA_GAP:
            run.gaps = alert.annotations.get("datasets", "").split(", ")
            run.gap_detail = alert.annotations.get("root_cause", "")


def refresh(wh: Warehouse, settings: Settings, run: RunResult) -> None:
    """Recompute the marts for every hour the run's loads touched, and any an interrupted run
    left pending (ops.pending_refresh), in one transaction, and mark which KPI hours are
    complete."""
    with wh.transaction():
        pending = wh.frame("select t from ops.pending_refresh").get_column("t")
        touched = pl.concat([run.touched, pending.cast(run.touched.dtype).rename("t")])
        run.hours_refreshed = refresh_marts(
            wh,
            settings.shop.timezone,
            touched.unique().sort(),
            covered=run.covered_hours,
            needs=kpi_needs(settings.source.datasets),
        )
        wh.execute("delete from ops.pending_refresh")


def finish_run(wh: Warehouse, run: RunResult, error: str | None = None) -> None:
    """Close the run's row in ops.runs with its counts, duration and status."""
    run.duration_seconds = time.monotonic() - run.clock
    starts = [w.since for w in run.windows if w.since is not None]
    wh.record_run(
        {
            "run_id": run.run_id,
            "kind": run.kind,
            "started_at": run.started_at,
            "finished_at": datetime.now(UTC),
            "window_start": min(starts) if starts else None,
            "window_end": run.until,
            "status": "failed" if error else run.status,
            "counts": {d: r.loaded for d, r in run.loads.items()},
            "quarantined": sum(r.quarantined for r in run.loads.values()),
            "duration_seconds": run.duration_seconds,
            "error": error or run.problem(),
        }
    )


def run_hour(wh: Warehouse, settings: Settings, source: ExportSource, until: datetime) -> RunResult:
    """One hourly run up to `until`: load every dataset, then refresh the hours they touched."""
    run = start_run(wh, until, max_quarantine_ratio=settings.source.max_quarantine_ratio)
    run.not_provided = not_provided(settings, source)
    for window in plan_windows(wh, settings, until, source.provides):
        load_window(wh, source, run, window)
    refresh(wh, settings, run)
    finish_run(wh, run)
    return run
