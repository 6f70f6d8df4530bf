"""data_gap (DESIGN.md §6): an hour whose data did not arrive.

Two ways data goes missing: the export failed after every retry (the run recorded it), or
it answered with nothing for an hour in which the shop always has volume (a lagging export
job). Either way the hour's numbers are not the business's numbers, so the gap inhibits
`conversion_drop` and `cancel_spike` for that hour; and `gap_hours` lists every hour of
orders or traffic still missing, so those rules leave it out of their windows and baselines
too (`without_gaps`) until a later load fills it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from transforms.time import local_hour_start

__all__ = [
    "GAP_CANDIDATE_SCHEMA",
    "GAP_READS",
    "RATE_DATASETS",
    "data_gap",
    "empty_hours",
    "expected_volume",
    "failed_hours",
    "gap_hours",
    "known_gaps",
    "without_gaps",
]

TS = pl.Datetime("us", "UTC")
# the datasets a conversion or cancel rate is computed from: a gap in either makes it wrong
RATE_DATASETS = ("orders", "traffic")
GAP_SCHEMA: dict[str, pl.DataType] = {"dataset": pl.String(), "hour": TS}
# the most hours one failed export is taken to have left unloaded (a 48-hour lookback)
MAX_GAP_HOURS = 48
# the read models `known_gaps` reads
GAP_READS = ("rules_gap_failures", "rules_gap_fills", "rules_volumes")

GAP_CANDIDATE_SCHEMA: dict[str, pl.DataType] = {
    "hour": TS,
    "dataset": pl.String(),
    "kind": pl.String(),
    "observed": pl.Int64(),
    "expected": pl.Float64(),
    "error": pl.String(),
}


def expected_volume(history: pl.DataFrame, hour: datetime, tz: str) -> pl.DataFrame:
    """Per dataset: the median row count of the same local hour on the previous days.

    `history`: (dataset, hour, rows) for the hours of the baseline days; hours with no row
    count as zero only if the dataset had rows on other hours that day (otherwise the
    whole day is unknown, not empty).
    """
    local = pl.col("hour").dt.convert_time_zone(tz)
    target = hour.astimezone(UTC)
    frame = pl.DataFrame({"hour": [target]}, schema={"hour": TS})
    hod = frame.select(local.dt.hour()).item()
    day = frame.select(local.dt.date()).item()
    past = history.with_columns(hod=local.dt.hour(), day=local.dt.date()).filter(
        pl.col("day") < day
    )
    days = past.select("dataset", "day").unique()
    same = past.filter(pl.col("hod") == hod).select("dataset", "day", "rows")
    return (
        days.join(same, on=["dataset", "day"], how="left")
        .with_columns(pl.col("rows").fill_null(0))
        .group_by("dataset")
        .agg(expected=pl.col("rows").median().cast(pl.Float64), days=pl.len())
    )


def data_gap(
    failures: pl.DataFrame,
    observed: pl.DataFrame,
    expected: pl.DataFrame,
    hour: datetime,
    *,
    min_expected: float = 20.0,
    min_days: int = 3,
) -> pl.DataFrame:
    """One row per dataset with a gap in `hour`: a recorded export failure (`failures`:
    dataset, error), or no rows (`observed`: dataset, rows) where the baseline
    (`expected`: expected_volume()) expects at least `min_expected`."""
    at = hour.astimezone(UTC)
    failed = (
        failures.group_by("dataset")
        .agg(error=pl.col("error").first())
        .with_columns(
            kind=pl.lit("export_failed"), observed=pl.lit(None, dtype=pl.Int64), expected=None
        )
    )
    empty = (
        expected.filter((pl.col("expected") >= min_expected) & (pl.col("days") >= min_days))
        .join(observed.select("dataset", "rows"), on="dataset", how="left")
        .filter(pl.col("rows").fill_null(0) == 0)
        .join(failed.select("dataset"), on="dataset", how="anti")
        .select(
            "dataset",
            error=pl.lit(None, dtype=pl.String),
            kind=pl.lit("no_data"),
            observed=pl.lit(0, dtype=pl.Int64),
            expected="expected",
        )
    )
    out = pl.concat(
        [
            failed.select(
                "dataset",
                "error",
                "kind",
                "observed",
                pl.col("expected").cast(pl.Float64),
            ),
            empty,
        ]
    )
    return (
        out.with_columns(hour=pl.lit(at, dtype=TS))
        .select([pl.col(c).cast(t) for c, t in GAP_CANDIDATE_SCHEMA.items()])
        .sort("dataset")
    )


def failed_hours(failures: pl.DataFrame, fills: pl.DataFrame) -> pl.DataFrame:
    """(dataset, hour) of the hours failed exports left unloaded that no later load filled.

    `failures`: dataset, window_end of each export that failed after its retries (the clock
    of its run). It left unloaded the hours since the dataset's last successful run before
    it (at most MAX_GAP_HOURS; just its last hour when none is known). `fills`: dataset,
    fill_start, fill_end, clock of each load that succeeded; it fills an hour inside
    [fill_start, fill_end) when it is a backfill (clock null) or a run whose clock stood
    after the failure's.
    """
    if failures.is_empty():
        return pl.DataFrame(schema=GAP_SCHEMA)
    hour = pl.duration(hours=1)
    loads = fills.select(
        pl.col("dataset").alias("loaded"),
        pl.col("fill_start").cast(TS),
        pl.col("fill_end").cast(TS),
        pl.col("clock").cast(TS),
    )
    failed = failures.select("dataset", failed_at=pl.col("window_end").cast(TS)).unique()
    last_ok = (
        failed.join_where(
            loads.filter(pl.col("clock").is_not_null()),
            pl.col("dataset") == pl.col("loaded"),
            pl.col("clock") < pl.col("failed_at"),
        )
        .group_by("dataset", "failed_at")
        .agg(since=pl.col("clock").max())
    )
    span = (pl.col("failed_at") - pl.col("since")).dt.total_hours()
    lost = (
        failed.join(last_ok, on=["dataset", "failed_at"], how="left")
        .with_columns(back=pl.int_ranges(1, span.fill_null(1).clip(1, MAX_GAP_HOURS) + 1))
        .explode("back")
        .select("dataset", "failed_at", hour=pl.col("failed_at") - hour * pl.col("back"))
    )
    filled = lost.join_where(
        loads,
        pl.col("dataset") == pl.col("loaded"),
        pl.col("hour") >= pl.col("fill_start"),
        pl.col("hour") < pl.col("fill_end"),
    ).filter(pl.col("clock").is_null() | (pl.col("clock") > pl.col("failed_at")))
    return (
        lost.join(filled, on=["dataset", "failed_at", "hour"], how="anti")
        .select("dataset", "hour")
        .unique()
        .sort("dataset", "hour")
    )


def empty_hours(
    counts: pl.DataFrame, tz: str, *, min_expected: float = 20.0, min_days: int = 3
) -> pl.DataFrame:
    """(dataset, hour) of hours with no rows where that local hour usually has at least
    `min_expected` (the median over the days of `counts` on which the dataset had rows).

    `counts`: dataset, hour, rows per local hour. The hours judged are those in which any
    dataset has rows: an hour where everything is missing has nothing to compute a rate from.
    """
    local = pl.col("hour").dt.convert_time_zone(tz)
    have = counts.filter(pl.col("rows") > 0).with_columns(hod=local.dt.hour(), day=local.dt.date())
    hours = have.select("hour", "hod", "day").unique()
    days = have.select("dataset", "day").unique()
    grid = (
        days.join(hours, on="day")
        .join(have.select("dataset", "hour", "rows"), on=["dataset", "hour"], how="left")
        .with_columns(pl.col("rows").fill_null(0))
    )
    usual = grid.group_by("dataset", "hod").agg(
        expected=pl.col("rows").median(), days=pl.col("day").n_unique()
    )
    # a dataset with no rows at all on a day (an outage of the whole day) counts too
    whole = hours.join(days.select("dataset").unique(), how="cross").join(
        have.select("dataset", "hour"), on=["dataset", "hour"], how="anti"
    )
    return (
        whole.join(usual, on=["dataset", "hod"])
        .filter((pl.col("expected") >= min_expected) & (pl.col("days") >= min_days))
        .select("dataset", pl.col("hour").cast(TS))
        .unique()
        .sort("dataset", "hour")
    )


def gap_hours(
    failures: pl.DataFrame,
    fills: pl.DataFrame,
    volumes: pl.DataFrame,
    tz: str,
    *,
    datasets: tuple[str, ...] = RATE_DATASETS,
) -> pl.Series:
    """The hours whose orders or traffic are missing: failed and not filled since, or empty.

    `volumes`: dataset, bucket, row_count (as `rules_volumes.sql` returns them).
    """
    counts = (
        volumes.filter(pl.col("dataset").is_in(datasets))
        .with_columns(hour=local_hour_start(pl.col("bucket").cast(TS), tz))
        .group_by("dataset", "hour")
        .agg(rows=pl.col("row_count").sum())
    )
    found = pl.concat(
        [
            failed_hours(failures.filter(pl.col("dataset").is_in(datasets)), fills),
            empty_hours(counts, tz),
        ]
    )
    return found.get_column("hour").unique().sort().alias("hour")


def without_gaps(frame: pl.DataFrame, gaps: pl.Series, column: str = "hour") -> pl.DataFrame:
    """The rows of `frame` whose `column` is not a gap hour."""
    return frame.filter(~pl.col(column).is_in(gaps.cast(TS).implode()))


def known_gaps(
    read: Callable[[str, Mapping[str, Any]], pl.DataFrame],
    start: datetime,
    as_of: datetime,
    tz: str,
) -> pl.Series:
    """The gap hours in [start, as_of) as known at `as_of`, from GAP_READS through `read`
    (a read model's rows by name and bound parameters)."""

    def utc(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
        return frame.with_columns([pl.col(c).cast(TS) for c in columns])

    failures = utc(
        read(
            "rules_gap_failures",
            {"start": start, "as_of": as_of, "datasets": list(RATE_DATASETS)},
        ),
        "window_end",
    )
    # the last successful run before a failure can be up to MAX_GAP_HOURS before the span
    since = {"start": start - timedelta(hours=MAX_GAP_HOURS), "as_of": as_of}
    fills = utc(read("rules_gap_fills", since), "fill_start", "fill_end", "clock")
    volumes = utc(read("rules_volumes", {"start": start, "end": as_of}), "bucket")
    return gap_hours(failures, fills, volumes, tz)
