"""`shoppulse dashboard`: one self-contained static HTML page of the shop's latest hour.

Reading (`read_dashboard`) and rendering are apart: `build_view` turns frames into a view model
of display strings and chart geometry without touching a database, and the Jinja2 template
`flows/templates/dashboard.html.j2` (autoescaped: titles, keywords and alert text are data)
lays it out with inline CSS and inline SVG, so the file opens offline.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import polars as pl

from alerts.chart import WeekChart, nice_max, week_chart
from alerts.status import alert_rows
from flows.settings import Settings
from flows.warehouse import Warehouse, read_sql
from i18n import dashboard_labels, label_name, word
from sources import provided
from transforms.digest import daily_series
from transforms.rules import low_stock_promo
from transforms.time import HOUR

__all__ = [
    "Chart",
    "DashboardData",
    "DashboardView",
    "Tile",
    "build_view",
    "read_dashboard",
    "render_dashboard",
    "write_dashboard",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"
TABLE_ROWS = 15


_CURRENCY = {"CNY": "¥", "JPY": "¥", "USD": "$", "HKD": "HK$", "EUR": "€", "GBP": "£"}
# tile -> (how it is formatted, whether a rise is good news)
_TILES = {
    "gmv": ("money", True),
    "visitors": ("count", True),
    "conversion_rate": ("rate", True),
    "aov": ("money", True),
    "bounce_rate": ("rate", False),
    "cart_fav": ("count", True),
}
_CHARTS = ("gmv", "visitors", "conversion_rate")
# hours of customer service shown, latest first
SERVICE_HOURS = 12


@dataclass(frozen=True)
class DashboardData:
    """What the dashboard reads: KPI hours from a day before the window up to the latest hour,
    and the latest hour's sources, stock cover, keywords of the latest day and open alerts."""

    kpis: pl.DataFrame
    by_source: pl.DataFrame
    stock: pl.DataFrame
    stock_as_of: datetime | None
    keywords: pl.DataFrame
    keyword_day: date | None
    alerts: list[dict[str, Any]]
    # mart.kpi_daily of the latest day and the 13 before it, for the week chart
    daily: pl.DataFrame = field(default_factory=pl.DataFrame)
    service: pl.DataFrame = field(default_factory=pl.DataFrame)
    seller_day: pl.DataFrame = field(default_factory=pl.DataFrame)


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    value: str
    yesterday: str
    delta: str
    tone: str  # good | bad | flat | none


@dataclass(frozen=True)
class Chart:
    """An SVG line chart's geometry, in viewBox units; a missing hour breaks the line."""

    key: str
    title: str
    latest: str
    width: int
    height: int
    lines: list[str]
    earlier: list[str]
    points: list[tuple[float, float, str]]
    bands: list[tuple[float, float]]
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    plot: tuple[float, float, float, float]  # left, top, right, bottom


@dataclass(frozen=True)
class DashboardView:
    lang: str
    t: Mapping[str, str]
    shop: str
    hour_text: str
    tz_text: str
    generated: str
    has_data: bool
    in_promo: bool
    trends_title: str
    legend_now: str
    tiles: list[Tile] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    sources: list[dict[str, str]] = field(default_factory=list)
    stock: list[dict[str, str]] = field(default_factory=list)
    stock_as_of: str = ""
    alerts: list[dict[str, str]] = field(default_factory=list)
    keywords: list[dict[str, str]] = field(default_factory=list)
    keyword_day: str = ""
    keywords_provided: bool = True
    week: WeekChart | None = None
    service: list[dict[str, str]] = field(default_factory=list)
    seller_day: list[dict[str, str]] = field(default_factory=list)


# --- reading ---------------------------------------------------------------------------------


def _day_earlier(hour: datetime, tz: ZoneInfo) -> datetime:
    # the same wall-clock hour one local day earlier (a DST day is not 24 hours)
    local = hour.astimezone(tz).replace(tzinfo=None) - timedelta(days=1)
    return local.replace(tzinfo=tz).astimezone(UTC)


def read_dashboard(
    wh: Warehouse, tz: ZoneInfo, hours: int, rows: int = TABLE_ROWS
) -> DashboardData:
    """Read what the dashboard shows from a (read-only) warehouse."""
    latest, as_of, day = wh.rows(read_sql("reads/dashboard_latest"))[0]
    start = None
    last_day = None
    if latest is not None:
        start = _day_earlier(latest - (max(hours, 1) - 1) * HOUR, tz)
        last_day = latest.astimezone(tz).date()
    return DashboardData(
        kpis=wh.frame(read_sql("reads/dashboard_kpi_hourly"), {"start": start, "end": latest}),
        by_source=wh.frame(read_sql("reads/dashboard_by_source"), {"hour": latest}),
        stock=wh.frame(read_sql("reads/dashboard_stock_cover"), {"as_of": as_of, "limit": rows}),
        stock_as_of=as_of,
        keywords=wh.frame(read_sql("reads/dashboard_keywords"), {"day": day, "limit": rows}),
        keyword_day=day,
        alerts=alert_rows(wh),
        daily=wh.frame(
            read_sql("reads/digest_kpi_daily"),
            {
                "first_day": last_day - timedelta(days=13) if last_day else None,
                "last_day": last_day,
            },
        ),
        service=wh.frame(
            read_sql("reads/dashboard_service"), {"end": latest, "hours": SERVICE_HOURS * HOUR}
        ),
        seller_day=wh.frame(
            read_sql("reads/dashboard_seller_day"),
            {"day": last_day, "days": 3},
        ),
    )


# --- formatting ------------------------------------------------------------------------------


class _Fmt:
    """Display strings for one locale and currency; None shows as a dash."""

    def __init__(self, locale: str, currency: str, tz: ZoneInfo) -> None:
        self.locale = locale
        self.symbol = _CURRENCY.get(currency, currency + " ")
        self.tz = tz

    def value(self, kind: str, value: float | None) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "—"
        if kind == "money":
            return f"{self.symbol}{value:,.2f}"
        if kind == "rate":
            return f"{value:.2%}"
        if kind == "decimal":
            return f"{value:,.1f}"
        return f"{round(value):,}"

    def compact(self, kind: str, value: float) -> str:
        if kind == "rate":
            return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"
        prefix = self.symbol if kind == "money" else ""
        if self.locale == "zh-CN":  # counted in 万 (10,000), not thousands
            return f"{prefix}{value / 10_000:.3g}万" if value >= 10_000 else f"{prefix}{value:,.0f}"
        if value >= 1_000_000:
            return f"{prefix}{value / 1_000_000:.3g}M"
        if value >= 1_000:
            return f"{prefix}{value / 1_000:.3g}k"
        return f"{prefix}{value:.3g}"

    def local(self, at: datetime | None, pattern: str = "%m-%d %H:%M") -> str:
        return "—" if at is None else at.astimezone(self.tz).strftime(pattern)

    def hours(self, value: float) -> str:
        return f"{value:,.1f} {word('hours', self.locale)}"


def _offset(at: datetime) -> str:
    text = at.strftime("%z")  # +0530
    return f"UTC{text[:3]}:{text[3:]}"


# --- the view model --------------------------------------------------------------------------


def _measure(row: dict[str, Any] | None, key: str) -> float | None:
    if row is None:
        return None
    if key == "cart_fav":
        return float(row["add_to_cart"] + row["favorites"])
    value = row[key]
    return None if value is None else float(value)


def _tile(
    key: str, now: dict[str, Any], before: dict[str, Any] | None, fmt: _Fmt, t: Mapping[str, str]
) -> Tile:
    kind, rise_is_good = _TILES[key]
    value, base = _measure(now, key), _measure(before, key)
    delta, tone = "—", "none"
    change: float | None = None
    if value is not None and base is not None:
        if kind == "rate":
            change, flat = value - base, abs(value - base) < 0.0005
            delta = f"{change * 100:+.2f} {t['pp']}"
        elif base:
            change = (value - base) / base
            delta, flat = f"{change:+.1%}", abs(change) < 0.005
    if change is not None:
        tone = "flat" if flat else "good" if (change > 0) == rise_is_good else "bad"
    return Tile(
        key=key,
        label=t[key],
        value=fmt.value(kind, value),
        yesterday=fmt.value(kind, base),
        delta=delta,
        tone=tone,
    )


def _segments(xy: list[tuple[float, float] | None]) -> list[str]:
    """Polyline point lists, broken wherever a value is missing."""
    lines: list[str] = []
    run: list[str] = []
    for point in [*xy, None]:
        if point is None:
            if len(run) > 1:
                lines.append(" ".join(run))
            elif run:  # a lone point still shows, as a zero-length line with round caps
                lines.append(f"{run[0]} {run[0]}")
            run = []
        else:
            run.append(f"{point[0]:.1f},{point[1]:.1f}")
    return lines


def _chart(
    key: str,
    slots: list[datetime],
    by_hour: dict[datetime, dict[str, Any]],
    fmt: _Fmt,
    t: Mapping[str, str],
) -> Chart:
    # about the size it is drawn at in three columns of a 1280 px window, so text stays legible
    width, height = 390, 170
    left, top, right, bottom = 50.0, 10.0, width - 18.0, height - 24.0
    kind = _TILES[key][0]
    now = [_measure(by_hour.get(h), key) for h in slots]
    before = [_measure(by_hour.get(_day_earlier(h, fmt.tz)), key) for h in slots]
    top_value = nice_max(max([v for v in now + before if v is not None], default=0.0))
    n = len(slots)
    step = (right - left) / (n - 1) if n > 1 else right - left

    def x(i: int) -> float:
        return left + i * step if n > 1 else (left + right) / 2

    def y(v: float) -> float:
        return bottom - (bottom - top) * v / top_value

    def xy(values: list[float | None]) -> list[tuple[float, float] | None]:
        return [None if v is None else (x(i), y(v)) for i, v in enumerate(values)]

    points = [
        (x(i), y(v), f"{fmt.local(h)}  {fmt.value(kind, v)}")
        for i, (h, v) in enumerate(zip(slots, now, strict=True))
        if v is not None
    ]
    bands = []
    for i, h in enumerate(slots):
        if by_hour.get(h, {}).get("in_promo"):
            x0, x1 = max(left, x(i) - step / 2), min(right, x(i) + step / 2)
            bands.append((x0, x1 - x0))
    # label local hours on a step that divides the day, about eight labels at most
    every = next((s for s in (1, 2, 3, 6, 12, 24) if n / s <= 8), 24)
    x_ticks = []
    for i, h in enumerate(slots):
        local = h.astimezone(fmt.tz)
        if local.hour % every == 0:
            x_ticks.append((x(i), local.strftime("%m-%d" if local.hour == 0 else "%H:%M")))
    y_ticks = [(y(top_value * f), fmt.compact(kind, top_value * f)) for f in (0.0, 0.5, 1.0)]
    return Chart(
        key=key,
        title=t[key],
        latest=fmt.value(kind, now[-1] if now else None),
        width=width,
        height=height,
        lines=_segments(xy(now)),
        earlier=_segments(xy(before)),
        points=points,
        bands=bands,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        plot=(left, top, right, bottom),
    )


def _source_rows(frame: pl.DataFrame, fmt: _Fmt) -> list[dict[str, str]]:
    total = frame["visitors"].sum() if frame.height else 0
    return [
        {
            "source": r["source"],
            "visitors": fmt.value("count", r["visitors"]),
            "share": fmt.value("rate", r["visitors"] / total if total else None),
            "buyers": fmt.value("count", r["buyers"]),
            "conversion_rate": fmt.value("rate", r["conversion_rate"]),
            "gmv": fmt.value("money", r["gmv"]),
            "aov": fmt.value("money", r["aov"]),
            "bounce_rate": fmt.value("rate", r["bounce_rate"]),
            "cart_fav": fmt.value("count", r["add_to_cart"] + r["favorites"]),
        }
        for r in frame.to_dicts()
    ]


def _stock_rows(
    frame: pl.DataFrame, fmt: _Fmt, t: Mapping[str, str], min_cover: float
) -> list[dict[str, str]]:
    rows = []
    for r in frame.to_dicts():
        cover, out_at, ends = r["hours_of_cover"], r["projected_stockout_at"], r["promo_ends_at"]
        early = out_at is not None and ends is not None and out_at < ends
        if cover is not None and cover < min_cover:
            tone = "bad"
        elif early:
            tone = "warn"
        else:
            tone = ""
        note = r["cover_note"] or ""
        cover_text = "—" if cover is None else fmt.hours(cover)
        rows.append(
            {
                "sku_id": r["sku_id"],
                "title": r["title"] or "",
                "promotion": r["promo_name"] or r["promo_id"],
                "promo_id": r["promo_id"],
                "promo_window": f"{fmt.local(r['promo_starts_at'])} – {fmt.local(ends)}",
                "available": fmt.value("count", r["available"]),
                "safety_stock": fmt.value("count", r["safety_stock"]),
                "velocity": fmt.value("decimal", r["velocity_per_hour"]),
                "cover": cover_text,
                "stockout": fmt.local(out_at),
                "note": t["sells_out_early"] if early else t.get(note, note),
                "tone": tone,
            }
        )
    return rows


def _alert_rows(
    alerts: list[dict[str, Any]], fmt: _Fmt, t: Mapping[str, str], settings: Settings
) -> list[dict[str, str]]:
    locale = fmt.locale
    return [
        {
            "severity": word(a["severity"], locale),
            "severity_key": a["severity"],
            "alert": settings.alert_title(a["alertname"], locale),
            "scope": ", ".join(f"{label_name(k, locale)}: {v}" for k, v in a["labels"].items())
            or t["shop"],
            "summary": a["summary"],
            "since": fmt.local(a["starts_at"]),
            "status": word(a["status"], locale) + (f" · {t['silenced']}" if a["silenced"] else ""),
            "message": a["delivery"] or "—",
        }
        for a in alerts
    ]


def _keyword_rows(frame: pl.DataFrame, fmt: _Fmt) -> list[dict[str, str]]:
    return [
        {
            "keyword": r["keyword"],
            "impressions": fmt.value("count", r["impressions"]),
            "clicks": fmt.value("count", r["clicks"]),
            "click_rate": fmt.value("rate", r["click_rate"]),
            "visitors": fmt.value("count", r["visitors"]),
            "buyers": fmt.value("count", r["buyers"]),
            "conversion_rate": fmt.value("rate", r["conversion_rate"]),
            "gmv": fmt.value("money", r["gmv"]),
        }
        for r in frame.to_dicts()
    ]


def _service_rows(frame: pl.DataFrame, fmt: _Fmt) -> list[dict[str, str]]:
    def seconds(value: float | None) -> str:
        return "—" if value is None else f"{value:.0f} s"

    return [
        {
            "hour": fmt.local(r["hour"], "%m-%d %H:%M"),
            "chats": fmt.value("count", r["chats"]),
            "answered_30s_share": fmt.value("rate", r["answered_30s_share"]),
            "unanswered": fmt.value("count", r["unanswered"]),
            "bot_median": seconds(r["bot_median_seconds"]),
            "agent_median": seconds(r["agent_median_seconds"]),
            "agent_p90": seconds(r["agent_p90_seconds"]),
        }
        for r in frame.to_dicts()
    ]


def _seller_day_rows(frame: pl.DataFrame, fmt: _Fmt) -> list[dict[str, str]]:
    def number(value: float | None, digits: int) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    return [
        {
            "day": r["day"].isoformat(),
            "reviews": fmt.value("count", r["reviews"]),
            "negative": fmt.value("count", r["negative"]),
            "negative_share": fmt.value("rate", r["negative_share"]),
            "avg_rating": number(r["avg_rating"], 2),
            "median_reply_hours": number(r["median_reply_hours"], 1),
            "due": fmt.value("count", r["due"]),
            "on_time_rate": fmt.value("rate", r["on_time_rate"]),
            "late": fmt.value("count", r["shipped_late"]),
            "unshipped": fmt.value("count", r["unshipped"]),
            "returns": fmt.value("count", r["returns"]),
        }
        for r in frame.to_dicts()
    ]


def build_view(
    data: DashboardData, settings: Settings, hours: int, generated_at: datetime
) -> DashboardView:
    """The dashboard's view model: display strings and chart geometry, from frames alone."""
    tz, locale = settings.shop.tz, settings.shop.locale
    stock_rule: low_stock_promo.LowStockPromoSettings = settings.rules.of(low_stock_promo.ALERTNAME)
    t = dashboard_labels(locale)
    fmt = _Fmt(locale, settings.alerting.currency, tz)
    by_hour = {r["hour"]: r for r in data.kpis.to_dicts()}
    latest = data.kpis["hour"].max() if data.kpis.height else None
    assert latest is None or isinstance(latest, datetime)
    common: dict[str, Any] = {
        "lang": locale,
        "t": t,
        "shop": settings.shop.name,
        "generated": fmt.local(generated_at, "%Y-%m-%d %H:%M"),
        "trends_title": t["trends"].format(n=hours),
        "legend_now": t["this_period"].format(n=hours),
        "alerts": _alert_rows(data.alerts, fmt, t, settings),
        "stock": _stock_rows(data.stock, fmt, t, stock_rule.min_cover_hours),
        "stock_as_of": fmt.local(data.stock_as_of, "%Y-%m-%d %H:%M"),
        "keywords": _keyword_rows(data.keywords, fmt),
        "keyword_day": "" if data.keyword_day is None else data.keyword_day.isoformat(),
        "keywords_provided": "keywords" in provided(settings.source),
        "service": _service_rows(data.service, fmt) if data.service.height else [],
        "seller_day": _seller_day_rows(data.seller_day, fmt) if data.seller_day.height else [],
    }
    if latest is None:
        return DashboardView(
            hour_text="—", tz_text=settings.shop.timezone, has_data=False, in_promo=False, **common
        )
    now = by_hour[latest]
    before = by_hour.get(_day_earlier(latest, tz))
    last_day = latest.astimezone(tz).date()
    week = None
    if data.daily.height:
        series = daily_series(data.daily, last_day - timedelta(days=6), in_progress=last_day)
        week = week_chart(
            [(r["day"].strftime("%m-%d"), r["gmv"], r["gmv_last_week"]) for r in series.to_dicts()],
            lambda value: fmt.compact("money", value),
        )
    start, end = latest.astimezone(tz), (latest + HOUR).astimezone(tz)
    slots = [latest - (hours - 1 - i) * HOUR for i in range(max(hours, 1))]
    return DashboardView(
        hour_text=f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}",
        tz_text=f"{settings.shop.timezone}, {_offset(start)}",
        has_data=True,
        in_promo=bool(now["in_promo"]),
        tiles=[_tile(key, now, before, fmt, t) for key in _TILES],
        charts=[_chart(key, slots, by_hour, fmt, t) for key in _CHARTS],
        sources=_source_rows(data.by_source, fmt),
        week=week,
        **common,
    )


# --- rendering and writing -------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_dashboard(view: DashboardView) -> str:
    """The dashboard page as HTML text."""
    return _environment().get_template("dashboard.html.j2").render(v=view)


def write_dashboard(settings: Settings, out: Path, hours: int = 48) -> Path:
    """Read the shop's warehouse (read-only) and write its dashboard to `out`, atomically."""
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        data = read_dashboard(wh, settings.shop.tz, hours)
    html = render_dashboard(build_view(data, settings, hours, datetime.now(UTC)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # write beside the target and rename, so a browser refreshing it never sees half a page
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(html)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the page is for the whole team
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
