"""The reviews read model the review rules share: declared and read in one place."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from transforms.rules.base import Context, utc

__all__ = ["READ", "recent_reviews"]

READ = "rules_reviews"


def recent_reviews(ctx: Context, hours: int) -> pl.DataFrame:
    """Reviews created in the `hours` before the evaluated hour's end, as known then."""
    end = ctx.hour.end
    found = ctx.read(READ, {"start": end - timedelta(hours=hours), "end": end, "as_of": end})
    return utc(found, "created_at", "replied_at")
