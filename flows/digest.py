"""The daily digest and the weekly review: read the marts, compute figures, queue, send, publish.

`daily_figures` and `weekly_figures` read one warehouse and return the figures as plain JSON
values (what `shoppulse digest --format json` prints, documented in README.md); the numbers
come from transforms/digest.py and transforms/decomposition.py. `run_digest` queues them in
the outbox for every channel (once per shop, period and channel) and flushes it; the flows
`daily_digest` and `weekly_review` also publish them as a markdown artifact.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import polars as pl
from prefect import flow
from prefect.artifacts import create_markdown_artifact

from alerts.digest import Digest, enqueue_digest
from alerts.outbox import flush
from alerts.renderer import Renderer
from flows.errors import ShoppulseError
from flows.report import artifact_key, failure_artifact
from flows.secrets import run_env
from flows.settings import Settings, load_settings
from flows.warehouse import Warehouse, read_sql
from flows.warehouse.lock import writing
from transforms.decomposition import EFFECTS, decompose_frame, weakest_link
from transforms.digest import (
    daily_series,
    day_comparison,
    movers,
    promotion_effects,
    segment_moves,
    totals,
    with_ratios,
)
from transforms.time import local_day_bounds

__all__ = [
    "daily_digest",
    "daily_figures",
    "digest_markdown",
    "parse_day",
    "parse_week",
    "run_digest",
    "weekly_figures",
    "weekly_review",
]

MOVERS = 5
_WEEK = re.compile(r"^(\d{4})-?W(\d{2})$")


# -- periods ----------------------------------------------------------------------------------


def parse_day(text: str | None, settings: Settings, now: datetime | None = None) -> date:
    """An ISO date; None is yesterday on the shop's clock."""
    if text is None:
        return (now or datetime.now(UTC)).astimezone(settings.shop.tz).date() - timedelta(days=1)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ShoppulseError(
            f"--day must be an ISO date such as 2026-11-11, not {text!r}"
        ) from None


def parse_week(text: str | None, settings: Settings, now: datetime | None = None) -> date:
    """The Monday of an ISO week such as 2026-W46; None is last week on the shop's clock."""
    if text is None:
        today = (now or datetime.now(UTC)).astimezone(settings.shop.tz).date()
        return today - timedelta(days=today.weekday() + 7)
    match = _WEEK.match(text.strip())
    try:
        if match is None:
            raise ValueError
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise ShoppulseError(f"--week must be an ISO week such as 2026-W46, not {text!r}") from None


def _week_name(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def _bounds(days: list[date], tz: str) -> dict[date, tuple[datetime, datetime]]:
    frame = local_day_bounds(pl.Series(days, dtype=pl.Date), tz)
    return {r["day"]: (r["day_start"], r["day_end"]) for r in frame.to_dicts()}


# -- reading ------------------------------------------------------------------------------------


def _iso(value: datetime | None, settings: Settings) -> str | None:
    return None if value is None else value.astimezone(settings.shop.tz).isoformat()


def _history(
    wh: Warehouse, settings: Settings
) -> tuple[datetime | None, datetime | None, date | None]:
    """The first and last KPI hour, and the first local day the warehouse holds whole."""
    first, last = wh.rows(read_sql("reads/digest_span"))[0]
    if first is None:
        return None, None, None
    first = first.astimezone(UTC)
    day = first.astimezone(settings.shop.tz).date()
    start = _bounds([day], settings.shop.timezone)[day][0]
    return first, last.astimezone(UTC), day if first <= start else day + timedelta(days=1)


def _records(frame: pl.DataFrame, settings: Settings) -> list[dict[str, Any]]:
    """Frame rows as JSON values: instants in shop time, dates as ISO strings."""
    out = []
    for row in frame.to_dicts():
        out.append(
            {
                k: _iso(v, settings)
                if isinstance(v, datetime)
                else v.isoformat()
                if isinstance(v, date)
                else v
                for k, v in row.items()
            }
        )
    return out


def _common(settings: Settings, kind: str, period: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "shop": settings.shop.name,
        "period": period,
        "timezone": settings.shop.timezone,
        "currency": settings.alerting.currency,
    }


# -- the daily digest ---------------------------------------------------------------------------


def daily_figures(wh: Warehouse, settings: Settings, day: date) -> dict[str, Any]:
    """The daily digest of local `day`: its KPIs against the same weekday a week earlier and
    the 4-week median, top movers, alerts fired, today's promotions and projected sell-outs."""
    tz = settings.shop.timezone
    first_hour, last_hour, first_day = _history(wh, settings)
    today = day + timedelta(days=1)
    bounds = _bounds([day, day - timedelta(days=7), today], tz)
    start, end = bounds[day]
    lw_start, lw_end = bounds[day - timedelta(days=7)]
    daily = wh.frame(
        read_sql("reads/digest_kpi_daily"),
        {"first_day": day - timedelta(days=34), "last_day": day},
    )
    notes: list[dict[str, Any]] = []
    has_day = first_day is not None and day >= first_day and day in set(daily["day"].to_list())
    complete = {r["day"]: r["complete"] for r in daily.select("day", "complete").to_dicts()}
    if not has_day:
        notes.append({"code": "no_data"})
    elif complete.get(day) is False or (
        last_hour is not None and last_hour + timedelta(hours=1) < end
    ):
        notes.append({"code": "day_incomplete"})
    first_text = None if first_day is None else first_day.isoformat()
    has_last_week = first_day is not None and first_day <= day - timedelta(days=7)
    if has_day and not has_last_week:
        notes.append({"code": "no_last_week", "first_day": first_text})
    elif has_day and complete.get(day - timedelta(days=7)) is False:
        # that day's exports were not all extracted: comparing with it would mislead
        has_last_week = False
        notes.append({"code": "last_week_incomplete", "day": (day - timedelta(days=7)).isoformat()})
    elif has_day and first_day is not None and first_day > day - timedelta(days=28):
        notes.append({"code": "no_median", "first_day": first_text})

    comparison = day_comparison(daily, day, first_day)
    metrics = {
        r["metric"]: {k: v for k, v in r.items() if k != "metric"} for r in comparison.to_dicts()
    }

    def span(model: str, a: datetime, b: datetime) -> pl.DataFrame:
        return wh.frame(read_sql(f"reads/{model}"), {"start": a, "end": b})

    found: dict[str, list[dict[str, Any]]] = {"source": [], "sku": [], "keyword": []}
    if has_day and has_last_week:
        found["source"] = _records(
            movers(
                span("digest_sources", start, end),
                span("digest_sources", lw_start, lw_end),
                "source",
                MOVERS,
            ),
            settings,
        )
        found["sku"] = _records(
            movers(
                span("digest_skus", start, end),
                span("digest_skus", lw_start, lw_end),
                "sku_id",
                MOVERS,
            ),
            settings,
        )
        keywords = wh.frame(
            read_sql("reads/digest_keywords"),
            {"first_day": day - timedelta(days=7), "last_day": day},
        )
        found["keyword"] = _records(
            movers(
                keywords.filter(pl.col("day") == day),
                keywords.filter(pl.col("day") == day - timedelta(days=7)),
                "keyword",
                MOVERS,
            ),
            settings,
        )

    alerts = [
        {
            "alertname": r[1],
            "severity": r[2],
            "labels": {
                k: v for k, v in _json(r[3]).items() if k not in ("alertname", "severity", "shop")
            },
            "summary": _json(r[4]).get("summary", ""),
            "starts_at": _iso(r[5], settings),
            "resolved": r[7] in ("resolved", "inactive"),
            "ends_at": _iso(r[8], settings),
        }
        for r in wh.rows(read_sql("reads/digest_alerts"), {"start": start, "end": end})
    ]

    t_start, t_end = bounds[today]
    cover = wh.frame(read_sql("reads/digest_stock_cover"), {"at": t_start})
    promotions = []
    for p in _records(span("digest_promotions", t_start, t_end), settings):
        skus = cover.filter(pl.col("promo_id") == p["promo_id"]).select(
            "sku_id", "title", "available", "hours_of_cover", "projected_stockout_at"
        )
        promotions.append({**p, "skus": _records(skus, settings)})
    sellouts = cover.filter(
        pl.col("projected_stockout_at").is_not_null()
        & (pl.col("projected_stockout_at") < pl.coalesce(pl.col("promo_ends_at"), pl.lit(t_end)))
    ).select(
        "sku_id",
        "title",
        "promo_id",
        "available",
        "hours_of_cover",
        "projected_stockout_at",
        "promo_ends_at",
    )
    as_of = cover["as_of"].max() if cover.height else None
    return {
        **_common(settings, "daily", day.isoformat()),
        "day": day.isoformat(),
        "history": {
            "first_hour": _iso(first_hour, settings),
            "first_day": first_text,
            "notes": notes,
        },
        "metrics": metrics,
        "movers": found,
        "alerts": alerts,
        "promotions": promotions,
        "sellouts": _records(sellouts, settings),
        "stock_as_of": _iso(as_of, settings) if isinstance(as_of, datetime) else None,
        "week_days": _records(daily_series(daily, day - timedelta(days=6)), settings),
    }


def _json(text: str | dict[str, Any]) -> dict[str, Any]:
    return text if isinstance(text, dict) else dict(json.loads(text))


# -- the weekly review --------------------------------------------------------------------------


def _week_totals(frame: pl.DataFrame) -> dict[str, Any] | None:
    if frame.is_empty():
        return None
    row = with_ratios(totals(frame.drop("hour"))).to_dicts()[0]
    return {
        k: row[k] for k in ("gmv", "visitors", "buyers", "conversion_rate", "aov", "paid_orders")
    }


def _rfm(wh: Warehouse, settings: Settings, end: datetime) -> tuple[dict[str, Any], list[Any]]:
    """Segment movement between the latest RFM snapshot up to `end` and one a week earlier."""
    notes: list[dict[str, Any]] = []
    snapshots = [
        r[0].astimezone(UTC) for r in wh.rows(read_sql("reads/digest_rfm_snapshots"), {"at": end})
    ]
    result: dict[str, Any] = {
        "as_of": None,
        "previous_as_of": None,
        "high_value_to_at_risk": None,
        "newly_churned": None,
        "segments": {},
        "segments_before": None,
    }
    if not snapshots:
        notes.append({"code": "rfm_none"})
        return result, notes
    latest = snapshots[0]
    after = wh.frame(read_sql("reads/digest_rfm"), {"as_of": latest})
    result["as_of"] = _iso(latest, settings)
    result["segments"] = dict(after.group_by("segment").len().sort("segment").iter_rows())
    earlier = [s for s in snapshots if s <= latest - timedelta(days=7)]
    if not earlier:
        notes.append({"code": "rfm_single", "as_of": result["as_of"]})
        return result, notes
    before = wh.frame(read_sql("reads/digest_rfm"), {"as_of": earlier[0]})
    moves = segment_moves(before, after)

    def moved(src: str | None, dst: str, exclude_src: bool = False) -> int:
        rows = moves.filter(pl.col("to_segment") == dst)
        if exclude_src:
            rows = rows.filter(pl.col("from_segment").is_null() | (pl.col("from_segment") != dst))
        else:
            rows = rows.filter(pl.col("from_segment") == src)
        return int(rows["buyers"].sum())

    result["previous_as_of"] = _iso(earlier[0], settings)
    result["segments_before"] = dict(before.group_by("segment").len().sort("segment").iter_rows())
    result["high_value_to_at_risk"] = moved("high_value", "at_risk")
    result["newly_churned"] = moved(None, "churned", exclude_src=True)
    return result, notes


def weekly_figures(wh: Warehouse, settings: Settings, monday: date) -> dict[str, Any]:
    """The weekly review of the ISO week starting `monday`: its GMV change against the week
    before, split into traffic, conversion and order-value effects overall and per source,
    the weakest link, RFM movement and what each promotion brought."""
    tz = settings.shop.timezone
    first_hour, last_hour, first_day = _history(wh, settings)
    earlier_monday, next_monday = monday - timedelta(days=7), monday + timedelta(days=7)
    bounds = _bounds([earlier_monday, monday, next_monday], tz)
    lw_start, start, end = bounds[earlier_monday][0], bounds[monday][0], bounds[next_monday][0]
    hourly = wh.frame(read_sql("reads/digest_kpi_hourly"), {"start": lw_start, "end": end})
    sources = wh.frame(read_sql("reads/digest_sources"), {"start": lw_start, "end": end})
    this_hours = hourly.filter(pl.col("hour") >= start)
    notes: list[dict[str, Any]] = []
    first_text = None if first_day is None else first_day.isoformat()
    daily = wh.frame(
        read_sql("reads/digest_kpi_daily"), {"first_day": earlier_monday, "last_day": next_monday}
    )
    incomplete = sorted(
        d.isoformat()
        for d, done in daily.select("day", "complete").iter_rows()
        if done is False and earlier_monday <= d < next_monday
    )
    whole = (
        first_day is not None
        and first_day <= earlier_monday
        and last_hour is not None
        and last_hour + timedelta(hours=1) >= end
        and not incomplete
    )
    figures: dict[str, Any] = {
        **_common(settings, "weekly", _week_name(monday)),
        "week": _week_name(monday),
        "start": monday.isoformat(),
        "end": (next_monday - timedelta(days=1)).isoformat(),
        "this_week": _week_totals(this_hours),
        "last_week": None,
        "gmv_change": None,
        **dict.fromkeys(EFFECTS),
        "by_source": [],
        "weakest_link": None,
        "weakest_overall": None,
    }
    if this_hours.is_empty():
        notes.append({"code": "no_data"})
    if incomplete:
        notes.append({"code": "week_incomplete", "days": ", ".join(incomplete)})
    elif not whole:
        notes.append({"code": "week_short", "first_day": first_text})
    else:
        before_hours = hourly.filter(pl.col("hour") < start)
        figures["last_week"] = _week_totals(before_hours)
        key = pl.lit("all").alias("key")
        overall = decompose_frame(
            before_hours.select(key, "visitors", "buyers", "gmv"),
            this_hours.select(key, "visitors", "buyers", "gmv"),
            "key",
        ).row(0, named=True)
        figures["gmv_change"] = overall["gmv_change"]
        figures.update({e: overall[e] for e in EFFECTS})
        split = decompose_frame(
            sources.filter(pl.col("hour") < start),
            sources.filter(pl.col("hour") >= start),
            "source",
        )
        figures["by_source"] = _records(split.rename({"key": "source"}), settings)
        worst = weakest_link(split)
        if worst is not None:
            figures["weakest_link"] = {"source": worst[0], "effect": worst[1], "amount": worst[2]}
        worst_all = weakest_link(pl.DataFrame([{"key": "all", **{e: overall[e] for e in EFFECTS}}]))
        if worst_all is not None:
            figures["weakest_overall"] = {"effect": worst_all[1], "amount": worst_all[2]}

    rfm, rfm_notes = _rfm(wh, settings, end)
    notes += rfm_notes
    promos = wh.frame(read_sql("reads/digest_promotions"), {"start": start, "end": end})
    effects = promotion_effects(promos, hourly, start, end, first_hour, tz)
    for p in effects.filter(pl.col("gmv_last_week").is_null()).iter_rows(named=True):
        notes.append({"code": "promo_short", "name": p["name"]})
    figures.update(
        {
            "history": {
                "first_hour": _iso(first_hour, settings),
                "first_day": first_text,
                "notes": notes,
            },
            "rfm": rfm,
            "promotions": _records(effects, settings),
            "week_days": _records(daily_series(daily, monday), settings),
        }
    )
    return figures


# -- queueing, sending, publishing --------------------------------------------------------------


def digest_markdown(settings: Settings, kind: str, figures: dict[str, Any]) -> str:
    """The digest as the markdown the chat channels get, for a Prefect artifact."""
    digest = Digest(
        "artifact",
        "artifact",
        settings.shop.name,
        kind,
        figures["period"],
        datetime.now(UTC),
        figures,
    )
    return Renderer(settings).render("markdown", digest)


def run_digest(
    settings: Settings,
    kind: str,
    period: date,
    *,
    now: datetime | None = None,
    http: httpx.Client | None = None,
) -> dict[str, Any]:
    """Compute a digest under the warehouse's writer guard, queue it once per channel and send
    what is pending; returns {figures, queued, sent, retrying, dead}."""
    what = f"{kind} digest of {settings.shop.name} for {period.isoformat()}"
    with writing(settings, what) as wh:
        figures = (daily_figures if kind == "daily" else weekly_figures)(wh, settings, period)
        start = _bounds([period], settings.shop.timezone)[period][0]
        queued = enqueue_digest(wh, settings, kind, figures["period"], start, figures, now=now)
        flushed = flush(wh, settings, now=now, http=http)
    return {
        "figures": figures,
        "queued": queued,
        "sent": list(flushed.sent),
        "retrying": list(flushed.retrying),
        "dead": list(flushed.dead),
    }


def _publish(settings: Settings, kind: str, result: dict[str, Any]) -> None:
    create_markdown_artifact(
        digest_markdown(settings, kind, result["figures"]),
        key=artifact_key(settings.shop.name, f"{kind}-digest"),
        description=f"{kind} review of {settings.shop.name} for {result['figures']['period']}",
    )


@flow(name="daily-digest", log_prints=True)
def daily_digest(config: str = "shoppulse.yaml", day: str | None = None) -> dict[str, Any]:
    """Review local day `day` (default: yesterday) and send it to every channel, once."""
    settings = load_settings(config, env=run_env())
    with failure_artifact(settings.shop.name, "daily digest"):
        result = run_digest(settings, "daily", parse_day(day, settings))
    _publish(settings, "daily", result)
    return result


@flow(name="weekly-review", log_prints=True)
def weekly_review(config: str = "shoppulse.yaml", week: str | None = None) -> dict[str, Any]:
    """Review ISO week `week` (default: last week) and send it to every channel, once."""
    settings = load_settings(config, env=run_env())
    with failure_artifact(settings.shop.name, "weekly review"):
        result = run_digest(settings, "weekly", parse_week(week, settings))
    _publish(settings, "weekly", result)
    return result
