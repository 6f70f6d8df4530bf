"""The daily RFM flow: refresh the buyer segments at a local midnight, as the one writer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows.clock import parse_instant
from flows.report import artifact_key, failure_artifact
from flows.secrets import run_env
from flows.settings import Settings, load_settings, shop_label
from flows.warehouse.lock import writing
from flows.warehouse.marts import refresh_rfm

__all__ = ["daily_rfm", "rfm_as_of", "run_rfm"]


def rfm_as_of(settings: Settings, day: str | None = None, now: datetime | None = None) -> datetime:
    """The local midnight that ends `day` (an ISO date), or the last local midnight."""
    tz = settings.shop.tz
    if day is None:
        local = (now or datetime.now(UTC)).astimezone(tz).date()
    else:
        local = parse_instant(day, tz).astimezone(tz).date() + timedelta(days=1)
    return datetime(local.year, local.month, local.day, tzinfo=tz).astimezone(UTC)


def run_rfm(settings: Settings, day: str | None = None) -> dict[str, Any]:
    """Refresh mart.rfm_segments as of a local midnight under the warehouse's writer guard."""
    as_of = rfm_as_of(settings, day)
    with writing(settings, f"daily RFM of {settings.shop.name} as of {as_of.isoformat()}") as wh:
        buyers = refresh_rfm(wh, settings.shop.timezone, as_of)
        segments = wh.rows(
            "select segment, count(*) from mart.rfm_segments where as_of = ?"
            " group by segment order by segment",
            [as_of],
        )
    return {
        "shop": settings.shop.name,
        "as_of": as_of.astimezone(settings.shop.tz).isoformat(),
        "buyers": buyers,
        "segments": {segment: int(n) for segment, n in segments},
    }


@flow(name="daily-rfm", log_prints=True)
def daily_rfm(config: str = "shoppulse.yaml", day: str | None = None) -> dict[str, Any]:
    """Refresh the RFM buyer segments as of the local midnight ending `day` (default: the last
    midnight)."""
    with failure_artifact(shop_label(config), "daily RFM"):
        settings = load_settings(config, env=run_env())
        summary = run_rfm(settings, day)
    create_table_artifact(
        [{"segment": s, "buyers": n} for s, n in summary["segments"].items()],
        key=artifact_key(settings.shop.name, "rfm"),
        description=f"RFM segments as of {summary['as_of']}",
    )
    return summary
