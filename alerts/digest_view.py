"""What the digest templates get: a digest's figures as display strings, in sections.

Every section is `{key, title, rows, empty}`, each row `{label, cells}` and each cell
`{name, value}`, so one template per format lays out both kinds of review. The keys are
documented in alerts/templates/README.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from alerts.chart import WeekChart, week_chart
from i18n import digest_labels, label_name, word

if TYPE_CHECKING:
    from alerts.digest import Digest
    from alerts.renderer import Renderer

__all__ = ["digest_context"]

_RATES = {"conversion_rate", "bounce_rate", "cancel_rate"}
_MONEY = {"gmv", "aov"}
_EFFECTS = ("traffic_effect", "conversion_effect", "aov_effect")
# rows per section when a message must be shortened to fit a platform's size limit
_COMPACT_ROWS = 3


class _Fmt:
    def __init__(self, renderer: Renderer, locale: str) -> None:
        self.renderer = renderer
        self.locale = locale
        self.tz = renderer.shop.tz

    def money(self, value: float | None, signed: bool = False) -> str:
        if value is None:
            return "—"
        text = self.renderer.money(value)
        return f"+{text}" if signed and value > 0 else text

    def metric(self, name: str, value: float | None) -> str:
        if value is None:
            return "—"
        if name in _RATES:
            return f"{value:.2%}"
        if name in _MONEY:
            return self.money(value)
        return f"{round(value):,}"

    @staticmethod
    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:+.1%}"

    def when(self, text: str | None, pattern: str = "%m-%d %H:%M") -> str:
        if not text:
            return "—"
        return datetime.fromisoformat(text).astimezone(self.tz).strftime(pattern)

    def hours(self, value: float | None) -> str:
        return "—" if value is None else f"{value:,.1f} {word('hours', self.locale)}"


def _section(
    key: str, title: str, rows: list[dict[str, Any]], t: Mapping[str, str], compact: bool
) -> dict[str, Any]:
    return {
        "key": key,
        "title": title,
        "rows": rows[:_COMPACT_ROWS] if compact else rows,
        "empty": t["none"],
    }


def _row(label: str, *cells: tuple[str, str]) -> dict[str, Any]:
    return {"label": label, "cells": [{"name": n, "value": v} for n, v in cells]}


def _notes(figures: Mapping[str, Any], t: Mapping[str, str]) -> list[str]:
    out = []
    for note in figures["history"]["notes"]:
        params = {k: v for k, v in note.items() if k != "code"}
        out.append(t[f"note_{note['code']}"].format(period=figures["period"], **params))
    return out


def _movers(figures: Mapping[str, Any], fmt: _Fmt, t: Mapping[str, str], compact: bool) -> list:
    sections = []
    for dim in ("source", "sku", "keyword"):
        rows = [
            _row(
                m["key"],
                (t["gmv"], fmt.money(m["gmv"])),
                (t["last_week"], fmt.money(m["gmv_before"])),
                (
                    t["change"],
                    f"{fmt.money(m['gmv_change'], True)} ({fmt.pct(m['gmv_change_pct'])})",
                ),
                (t["visitors"], f"{m['visitors']:,} / {m['visitors_before']:,}"),
            )
            for m in figures["movers"][dim]
        ]
        sections.append(_section(f"movers_{dim}", t[f"movers_{dim}"], rows, t, compact))
    return sections


def _compared(fmt: _Fmt, name: str, base: float | None, change: float | None) -> str:
    if base is None:
        return "—"
    return f"{fmt.metric(name, base)} ({fmt.pct(change)})"


def _daily(
    digest: Digest, fmt: _Fmt, t: Mapping[str, str], compact: bool
) -> tuple[list[str], list[dict[str, Any]]]:
    f = digest.figures
    metrics = f["metrics"]
    gmv = metrics["gmv"]
    headline = [
        f"{t['gmv']} {fmt.metric('gmv', gmv['value'])} · {t['vs_last_week']}"
        f" {fmt.pct(gmv['vs_last_week'])} · {t['vs_median']} {fmt.pct(gmv['vs_median_4w'])}"
    ]
    rows = [
        _row(
            t[name],
            ("", fmt.metric(name, m["value"])),
            (t["last_week"], _compared(fmt, name, m["last_week"], m["vs_last_week"])),
            (t["median_4w"], _compared(fmt, name, m["median_4w"], m["vs_median_4w"])),
        )
        for name, m in metrics.items()
    ]
    sections = [{"key": "figures", "title": t["figures"], "rows": rows, "empty": t["none"]}]
    sections += _movers(f, fmt, t, compact)
    alerts = [
        _row(
            fmt.renderer.title(a["alertname"], fmt.locale),
            (word(a["severity"], fmt.locale), a["summary"]),
            (
                ", ".join(f"{label_name(k, fmt.locale)} {v}" for k, v in a["labels"].items())
                or t["overall"],
                fmt.when(a["starts_at"]),
            ),
            ("", t["alert_resolved"] if a["resolved"] else t["alert_open"]),
        )
        for a in f["alerts"]
    ]
    sections.append(_section("alerts", t["alerts"], alerts, t, compact))
    promos = []
    for p in f["promotions"]:
        skus = ", ".join(f"{s['sku_id']} {fmt.hours(s['hours_of_cover'])}" for s in p["skus"][:5])
        promos.append(
            _row(
                p["name"],
                ("", f"{fmt.when(p['starts_at'])} – {fmt.when(p['ends_at'])}"),
                (t["cover"], skus or "—"),
            )
        )
    sections.append(_section("promotions", t["promotions_today"], promos, t, compact))
    sellouts = [
        _row(
            f"{s['sku_id']} {s['title'] or ''}".strip(),
            (t["sells_out_at"], fmt.when(s["projected_stockout_at"])),
            (t["available"], f"{s['available']:,}" if s["available"] is not None else "—"),
            (t["cover"], fmt.hours(s["hours_of_cover"])),
            (label_name("promo_id", fmt.locale), s["promo_id"]),
        )
        for s in f["sellouts"]
    ]
    sections.append(_section("sellouts", t["sellouts"], sellouts, t, compact))
    return headline, sections


def _effect_cells(r: Mapping[str, Any], fmt: _Fmt, t: Mapping[str, str]) -> list[tuple[str, str]]:
    return [
        (t["total_change"], fmt.money(r["gmv_change"], True)),
        *((t[e], fmt.money(r[e], True)) for e in _EFFECTS),
    ]


def _weekly(
    digest: Digest, fmt: _Fmt, t: Mapping[str, str], compact: bool
) -> tuple[list[str], list[dict[str, Any]]]:
    f = digest.figures
    now, before = f["this_week"], f["last_week"]
    headline = [f"{t['gmv']} {fmt.metric('gmv', now['gmv'] if now else None)}"]
    week_rows = []
    for name in ("gmv", "visitors", "buyers", "conversion_rate", "aov", "paid_orders"):
        value = now[name] if now else None
        earlier = before[name] if before else None
        change = value / earlier - 1 if value is not None and earlier else None
        week_rows.append(
            _row(
                t[name],
                (t["this_week"], fmt.metric(name, value)),
                (t["last_week"], f"{fmt.metric(name, earlier)} ({fmt.pct(change)})"),
            )
        )
    sections = [{"key": "week", "title": t["week"], "rows": week_rows, "empty": t["none"]}]
    split_rows = []
    if f["gmv_change"] is not None:
        headline[0] += f" ({fmt.money(f['gmv_change'], True)})"
        headline.append(" · ".join(f"{t[e]} {fmt.money(f[e], True)}" for e in _EFFECTS))
        split_rows.append(_row(t["overall"], *_effect_cells(f, fmt, t)))
        split_rows += [_row(r["source"], *_effect_cells(r, fmt, t)) for r in f["by_source"]]
        weakest = f["weakest_link"]
        if weakest is not None:
            headline.append(
                t["weakest_link"].format(
                    effect=t[weakest["effect"]],
                    scope=weakest["source"],
                    amount=fmt.money(weakest["amount"]),
                )
            )
        else:
            headline.append(t["no_weakest"])
        overall = f["weakest_overall"]
        if overall is not None:
            headline.append(
                t["weakest_overall"].format(
                    effect=t[overall["effect"]], amount=fmt.money(overall["amount"])
                )
            )
    sections.append({"key": "split", "title": t["split"], "rows": split_rows, "empty": "—"})
    rfm = f["rfm"]
    rfm_rows = []
    if rfm["high_value_to_at_risk"] is not None:
        rfm_rows.append(_row(t["high_value_to_at_risk"], ("", f"{rfm['high_value_to_at_risk']:,}")))
        rfm_rows.append(_row(t["newly_churned"], ("", f"{rfm['newly_churned']:,}")))
    if rfm["segments"]:
        rfm_rows.append(
            _row(
                t["segments_now"],
                *(
                    (t.get(f"segment_{name}", name), f"{n:,}")
                    for name, n in sorted(rfm["segments"].items())
                ),
            )
        )
    sections.append({"key": "rfm", "title": t["rfm"], "rows": rfm_rows, "empty": "—"})
    promos = [
        _row(
            p["name"],
            ("", f"{fmt.when(p['starts_at'])} – {fmt.when(p['ends_at'])}"),
            (t["gmv"], fmt.money(p["gmv"])),
            (t["same_hours_last_week"], fmt.money(p["gmv_last_week"])),
            (t["uplift"], fmt.money(p["uplift"], True)),
            (
                t["cancelled_orders"],
                f"{p['cancelled_orders']:,} ({fmt.metric('cancel_rate', p['cancel_rate'])}"
                f" / {fmt.metric('cancel_rate', p['cancel_rate_last_week'])})",
            ),
        )
        for p in f["promotions"]
    ]
    sections.append(_section("promotions", t["promotions_week"], promos, t, compact))
    return headline, sections


def _chart(digest: Digest, fmt: _Fmt) -> WeekChart | None:
    days = digest.figures["week_days"]
    if not any(d["gmv"] is not None for d in days):
        return None
    return week_chart(
        [
            (date.fromisoformat(d["day"]).strftime("%m-%d"), d["gmv"], d["gmv_last_week"])
            for d in days
        ],
        lambda v: fmt.money(v) if v else "0",
    )


def digest_context(
    renderer: Renderer, digest: Digest, locale: str, *, compact: bool = False
) -> dict[str, Any]:
    """The variables every digest template gets (documented in alerts/templates/README.md)."""
    t = digest_labels(locale)
    fmt = _Fmt(renderer, locale)
    if digest.kind == "daily":
        headline, sections = _daily(digest, fmt, t, compact)
    else:
        headline, sections = _weekly(digest, fmt, t, compact)
    chart = _chart(digest, fmt)
    return {
        "shop": digest.shop,
        "locale": locale,
        "timezone": renderer.shop.timezone,
        "receiver": digest.receiver,
        "delivery_id": digest.delivery_id,
        "kind": digest.kind,
        "title": t[f"{digest.kind}_title"],
        "period": digest.period,
        "headline": headline,
        "notes": _notes(digest.figures, t),
        "sections": sections,
        "has_chart": chart is not None,
        "chart": chart,
        "chart_title": t["chart_title"],
        "last_week_label": t["last_week"],
        "footer": t["ref"].format(delivery_id=digest.delivery_id, timezone=renderer.shop.timezone),
    }
