"""data_gap (DESIGN.md §6): an hour whose data did not arrive.

Two ways data goes missing: the export failed after every retry (the run recorded it), or
it answered with nothing for an hour in which the shop always has volume (a lagging export
job). Either way the hour's numbers are not the business's numbers, so the gap inhibits
`conversion_drop` and `cancel_spike` for that hour.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

__all__ = ["GAP_CANDIDATE_SCHEMA", "data_gap", "expected_volume"]

TS = pl.Datetime("us", "UTC")

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
