"""Backfill chunks: a range split into windows, each extracted and typed away from the warehouse.

A chunk's worker (a thread, or a Dask worker process) pulls every dataset's window from the
export source, lands the pages in a scratch in-memory DuckDB of its own with
`flows.warehouse.load.land`, types them with the same staging models as the hourly run
(`sql/staging`), and writes the typed rows to one Parquet file per dataset. The single writer
(`flows.warehouse.writer`) merges those files into the warehouse in chunk order. Nothing here
opens the warehouse.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from flows.errors import BackfillError, ExportError
from flows.settings import Settings
from flows.warehouse import Warehouse, read_sql
from flows.warehouse.load import WINDOW_FIELDS, land
from sources import make_source
from transforms.time import HOUR

__all__ = ["DIMENSIONS", "Chunk", "StagedChunk", "extract_chunk", "hour_starts", "plan_chunks"]

DIMENSIONS = ("products", "promotions")
# a backfill longer than this reads each chunk through the source's bulk path, where it has one
BULK_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Chunk:
    """One window [start, end) of a backfill (UTC instants on shop-local hour starts)."""

    start: datetime
    end: datetime
    first: bool = False  # the range's first chunk pulls dimensions from the beginning
    bulk: bool = False  # part of a range longer than a day: read through a bulk path if any

    @property
    def key(self) -> str:
        """A file- and id-safe name, e.g. 20261028T1600Z."""
        return self.start.astimezone(UTC).strftime("%Y%m%dT%H%MZ")

    @property
    def hours(self) -> int:
        return round((self.end - self.start) / HOUR)

    def label(self, tz: ZoneInfo) -> str:
        """How people see the chunk: its local start and end."""
        start, end = self.start.astimezone(tz), self.end.astimezone(tz)
        return f"{start:%Y-%m-%dT%H:%M%z}..{end:%Y-%m-%dT%H:%M%z}"


@dataclass
class StagedChunk:
    """A chunk's typed rows, one Parquet file per dataset, or why extracting it failed."""

    chunk: Chunk
    files: dict[str, str] = field(default_factory=dict)
    landed: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    failed_dataset: str | None = None
    seconds: float = 0.0


def _local_midnight_after(instant: datetime, tz: ZoneInfo, days: int) -> datetime:
    local = instant.astimezone(tz).date() + timedelta(days=days)
    return datetime(local.year, local.month, local.day, tzinfo=tz).astimezone(UTC)


def plan_chunks(start: datetime, end: datetime, tz: ZoneInfo, chunk_hours: int) -> list[Chunk]:
    """Split [start, end) into chunks. Whole days (chunk_hours a multiple of 24) end at local
    midnights, so a day chunk is a local day even when it has 23 or 25 hours."""
    if chunk_hours < 1:
        raise BackfillError(f"chunk hours must be at least 1, not {chunk_hours}")
    if start >= end:
        raise BackfillError(f"the backfill range is empty: start {start} is not before end {end}")
    chunks: list[Chunk] = []
    at = start
    while at < end:
        if chunk_hours % 24 == 0:
            nxt = _local_midnight_after(at, tz, chunk_hours // 24)
        else:
            nxt = at + timedelta(hours=chunk_hours)
        nxt = min(nxt, end)
        chunks.append(Chunk(at, nxt, first=not chunks, bulk=end - start > BULK_AFTER))
        at = nxt
    return chunks


def hour_starts(chunk: Chunk) -> list[datetime]:
    """The starts of the hours the chunk covers."""
    return [chunk.start + i * HOUR for i in range(chunk.hours)]


def _stage(scratch: Warehouse, batch_id: str, dataset: str, path: Path) -> None:
    # the staging model's typed rows plus the window instant, so the writer can load the chunk
    # hour by hour when it replays alerts
    scratch.execute(
        f"create or replace temp table _staged as"
        f" select *, {WINDOW_FIELDS[dataset]} as _at from ({read_sql(f'staging/stg_{dataset}')})",
        {"batch_id": batch_id, "from_seq": 0},
    )
    target = str(path).replace("'", "''")
    scratch.execute(f"copy _staged to '{target}' (format parquet)")
    scratch.execute("drop table _staged")


def batch_id(chunk: Chunk, dataset: str) -> str:
    """The raw batch a chunk's dataset lands as: the same on every rerun, so reruns replace it."""
    return f"bf-{chunk.key}-{dataset}"


def extract_chunk(settings: Settings, chunk: Chunk, staging: Path) -> StagedChunk:
    """Pull and type one chunk into `staging/<chunk key>/`; an export failure is returned.

    Dimensions (products, promotions) are pulled from the beginning in the first chunk, as a
    warehouse's first hourly run does, so the ones set up before the range are not missed.
    """
    clock = time.monotonic()
    folder = staging / chunk.key
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    staged = StagedChunk(chunk)
    # every window of a long backfill goes the bulk way (Shopify's bulk operations)
    bulk = {"bulk_after_hours": 0} if chunk.bulk else {}
    source = make_source(settings.source.model_copy(update=bulk))
    try:
        # a private in-memory DuckDB with the warehouse schema: land and stage need raw.records
        with Warehouse(":memory:") as scratch:
            for dataset in settings.source.datasets:
                if dataset not in source.provides:
                    continue
                since = None if dataset in DIMENSIONS and chunk.first else chunk.start
                batch = batch_id(chunk, dataset)
                seq = 0
                try:
                    for page in source.pages(dataset, since, chunk.end):
                        seq += land(scratch, batch, dataset, page, seq, since, chunk.end)
                except ExportError as exc:
                    staged.error, staged.failed_dataset = str(exc), dataset
                    break
                path = folder / f"{dataset}.parquet"
                _stage(scratch, batch, dataset, path)
                staged.files[dataset] = str(path)
                staged.landed[dataset] = seq
    finally:
        source.close()
    if staged.error:
        shutil.rmtree(folder, ignore_errors=True)
        staged.files = {}
    staged.seconds = time.monotonic() - clock
    return staged
