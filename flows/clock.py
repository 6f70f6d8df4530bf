"""The run clock: which local hour a run processes, from --hour or the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from flows.errors import ShoppulseError
from transforms.time import local_hour_start

__all__ = ["hour_end", "hour_start", "parse_instant"]


def parse_instant(text: str, tz: ZoneInfo) -> datetime:
    """An ISO-8601 time; one without an offset is read on the shop's clock."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ShoppulseError(
            f"not an ISO-8601 time: {text!r} (e.g. 2026-11-11T10:00 or 2026-11-11T10:00+08:00)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def hour_start(instant: datetime, tz: ZoneInfo) -> datetime:
    """The instant the shop-local hour containing `instant` starts."""
    frame = pl.DataFrame({"t": [instant.astimezone(UTC)]})
    value = frame.select(local_hour_start(pl.col("t"), str(tz))).item()
    assert isinstance(value, datetime)
    return value


def hour_end(hour: str | None, tz: ZoneInfo, now: datetime | None = None) -> datetime:
    """Where a run's clock stands: the end of local hour `hour`, else the start of the current one.

    Only whole hours are read, so a run never sees a half-filled hour.
    """
    if hour is None:
        return hour_start(now or datetime.now(UTC), tz)
    return hour_start(parse_instant(hour, tz), tz) + timedelta(hours=1)
