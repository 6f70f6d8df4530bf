"""Rule candidates (rows of the transforms' candidate frames) to `Alert`s with their words.

The transforms decide and measure; this module names scope labels, picks the severity
words and writes summary, description, action and root cause in the shop's locale.
Values and baselines stay plain numbers with a `unit`, so templates format them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from alerts.model import Alert

__all__ = [
    "cancel_alert",
    "conversion_alert",
    "data_gap_alert",
    "low_stock_alert",
    "promo_audit_alert",
    "threshold_alert",
]

Row = Mapping[str, Any]


def _num(value: float | int | None, digits: int = 6) -> str:
    if value is None:
        return ""
    return f"{float(value):.{digits}g}"


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _zh(locale: str) -> bool:
    return locale == "zh-CN"


def _local(value: datetime | None, tz: Any) -> str:
    return value.astimezone(tz).strftime("%m-%d %H:%M") if value is not None else ""


def conversion_alert(
    row: Row,
    hour: datetime,
    *,
    sources: Sequence[Row] = (),
    skus: Sequence[Row] = (),
    locale: str = "en",
) -> Alert:
    """conversion_drop for one scope; `sources`/`skus`: the root cause, largest first
    (each with `source` or `sku_id`, `missing_buyers`, `share`)."""
    source = row["source"]
    labels = {"source": source} if source else {}
    drop, window = row["drop"], row["window_hours"]
    where = (
        (f"来源 {source} " if source else "全店")
        if _zh(locale)
        else (f"source {source}" if source else "shop")
    )
    if _zh(locale):
        summary = f"{where}支付转化率下降 {_pct(drop)}（近 {window} 小时）"
        description = (
            f"支付转化率 {_pct(row['window_rate'])}，基线 {_pct(row['window_baseline_rate'])}"
            f"（前 {row['baseline_hours']} 天同一时段）；"
            f"约少了 {row['missing_buyers']:.0f} 位买家，"
            f"p={row['p_value']:.1e}。"
        )
        action = "检查该来源的落地页、价格、库存和支付链路；确认投放与搜索排名是否变化。"
        cause_lines = [
            f"来源 {s['source']}：少 {s['missing_buyers']:.0f} 位买家（{_pct(s['share'])}）"
            for s in sources[:3]
        ] + [
            f"商品 {s['sku_id']}：少 {s['missing_buyers']:.0f} 位买家（{_pct(s['share'])}）"
            for s in skus[:3]
        ]
    else:
        summary = f"Conversion down {_pct(drop)} in {where} over the last {window} h"
        description = (
            f"Conversion {_pct(row['window_rate'])} against a baseline of"
            f" {_pct(row['window_baseline_rate'])} (same hour, {row['baseline_hours']} previous"
            f" days); about {row['missing_buyers']:.0f} buyers missing, p={row['p_value']:.1e}."
        )
        action = (
            "Check landing pages, prices, stock and checkout for this traffic; compare ad"
            " delivery and search ranking with yesterday."
        )
        cause_lines = [
            f"source {s['source']}: {s['missing_buyers']:.0f} buyers missing ({_pct(s['share'])})"
            for s in sources[:3]
        ] + [
            f"SKU {s['sku_id']}: {s['missing_buyers']:.0f} buyers missing ({_pct(s['share'])})"
            for s in skus[:3]
        ]
    annotations = {
        "summary": summary,
        "description": description,
        "value": _num(row["conversion_rate"]),
        "baseline": _num(row["baseline_rate"]),
        "unit": "ratio",
        "metric": "conversion_rate",
        "action": action,
        "root_cause": "\n".join(cause_lines),
        "drop": _num(drop, 4),
        "window_hours": str(window),
        "p_value": _num(row["p_value"], 3),
        "missing_buyers": _num(row["missing_buyers"], 4),
        "gmv_lost": _num(row["gmv_lost"], 8),
    }
    if sources:
        annotations["top_source"] = str(sources[0]["source"])
    severity = "critical" if drop >= 0.5 else "warning"
    return Alert(
        "conversion_drop", severity, labels, annotations, hour, impact=float(row["gmv_lost"])
    )


def low_stock_alert(row: Row, hour: datetime, *, tz: Any, locale: str = "en") -> Alert:
    """low_stock_promo for one (SKU, promotion)."""
    started = row["promo_starts_at"] <= hour
    sells_out = row["projected_stockout_at"]
    cover = row["hours_of_cover"]
    if _zh(locale):
        when = (
            "已售罄"
            if row["available"] <= 0
            else f"预计 {_local(sells_out, tz)} 售罄"
            if sells_out is not None
            else "库存低于安全库存"
        )
        summary = f"活动 {row['promo_id']} 商品 {row['sku_id']} {when}"
        state = "进行中" if started else f"将于 {_local(row['promo_starts_at'], tz)} 开始"
        description = (
            f"可用库存 {row['available']}，安全库存 {row['safety_stock']}；"
            f"活动{state}，{_local(row['promo_ends_at'], tz)} 结束；"
            f"预计活动结束前需求 {row['demand_to_end']:.0f}"
            f"（预估提升 {row['uplift']:.1f} 倍）。"
        )
        action = "补货或调拨；或改为预售、限制活动数量/每人限购。"
    else:
        when = (
            "is out of stock"
            if row["available"] <= 0
            else f"sells out around {_local(sells_out, tz)}"
            if sells_out is not None
            else "is at or below safety stock"
        )
        summary = f"{row['sku_id']} in promotion {row['promo_id']} {when}"
        state = "running" if started else f"starts {_local(row['promo_starts_at'], tz)}"
        description = (
            f"Available {row['available']}, safety stock {row['safety_stock']}; the promotion"
            f" {state} and ends {_local(row['promo_ends_at'], tz)}; expected demand to its end"
            f" {row['demand_to_end']:.0f} (uplift {row['uplift']:.1f}x)."
        )
        action = (
            "Restock or transfer stock now; or switch the item to presale, or cap the"
            " promotion quantity / per-buyer limit."
        )
    labels = {"sku_id": str(row["sku_id"]), "promo_id": str(row["promo_id"])}
    price = row["promo_price"] or 0.0
    annotations = {
        "summary": summary,
        "description": description,
        "value": str(row["available"]),
        "baseline": str(row["safety_stock"]),
        "unit": "count",
        "action": action,
        "root_cause": "",
        "hours_of_cover": _num(cover, 4),
        "projected_stockout_at": sells_out.isoformat() if sells_out is not None else "",
        "reason": str(row["reason"]),
    }
    return Alert(
        "low_stock_promo",
        str(row["severity"]),
        labels,
        annotations,
        hour,
        impact=float(row["shortfall"] or 0.0) * float(price),
    )


def cancel_alert(row: Row, hour: datetime, *, locale: str = "en") -> Alert:
    """cancel_spike for the shop, naming the promotion whose orders are being cancelled."""
    promo = row["top_promo_id"]
    if _zh(locale):
        summary = (
            f"活动 {promo} 订单取消率 {_pct(row['top_promo_rate'])}，为基线的 {row['ratio']:.1f} 倍"
        )
        description = (
            f"本时段活动 {promo} 的 {row['top_promo_lines']} 个订单行中"
            f" {row['top_promo_cancelled']} 个已取消（全店 {_pct(row['cancel_rate'])}）；"
            f"基线 {_pct(row['baseline_rate'])}（前 {row['baseline_days']} 天同一时段）。"
        )
        action = "检查满减门槛、优惠金额和活动规则是否配置错误；必要时暂停活动。"
        causes = [f"活动 {promo}：{row['top_promo_cancelled']}/{row['top_promo_lines']} 行已取消"]
    else:
        summary = (
            f"Cancel rate {_pct(row['top_promo_rate'])} on promotion {promo},"
            f" {row['ratio']:.1f}x its baseline"
        )
        description = (
            f"{row['top_promo_cancelled']} of the {row['top_promo_lines']} order lines of"
            f" {promo} created in the hour are already cancelled (shop-wide"
            f" {_pct(row['cancel_rate'])}); baseline {_pct(row['baseline_rate'])} (same hour,"
            f" {row['baseline_days']} previous days)."
        )
        action = (
            "Check the full-reduction threshold, discount amount and promotion rules;"
            " pause the promotion if they are wrong."
        )
        causes = [
            f"promotion {promo}: {row['top_promo_cancelled']} of {row['top_promo_lines']}"
            " lines cancelled"
        ]
    annotations = {
        "summary": summary,
        "description": description,
        "value": _num(row["top_promo_rate"]),
        "baseline": _num(row["baseline_rate"]),
        "unit": "ratio",
        "metric": "cancel_rate",
        "action": action,
        "root_cause": "\n".join(causes),
        "p_value": _num(row["p_value"], 3),
        "promo_id": str(promo),
    }
    severity = "critical" if row["ratio"] >= 3 else "warning"
    return Alert("cancel_spike", severity, {}, annotations, hour)


def data_gap_alert(rows: Sequence[Row], hour: datetime, *, locale: str = "en") -> Alert:
    """One data_gap for the hour, naming every dataset that is missing and why."""
    names = ", ".join(str(r["dataset"]) for r in rows)
    failed = [r for r in rows if r["kind"] == "export_failed"]
    if _zh(locale):
        summary = f"数据缺失：{names}"
        description = "本时段数据不完整，转化率和取消率告警已抑制；下次运行会重新拉取。"
        action = "检查导出接口的状态和凭据；如持续缺失，请联系平台。"
        lines = [
            f"{r['dataset']}：导出失败（{r['error']}）"
            if r["kind"] == "export_failed"
            else f"{r['dataset']}：无数据（通常约 {r['expected']:.0f} 行）"
            for r in rows
        ]
    else:
        summary = f"Data missing for this hour: {names}"
        description = (
            "The hour's numbers are incomplete: conversion and cancellation alerts are held"
            " back for it; the next run reads the window again."
        )
        action = (
            "Check the export API's status and credentials; if it persists, contact the platform."
        )
        lines = [
            f"{r['dataset']}: export failed ({r['error']})"
            if r["kind"] == "export_failed"
            else f"{r['dataset']}: no rows (usually about {r['expected']:.0f})"
            for r in rows
        ]
    annotations = {
        "summary": summary,
        "description": description,
        "value": str(len(rows)),
        "baseline": "",
        "unit": "count",
        "action": action,
        "root_cause": "\n".join(lines),
        "datasets": names,
    }
    return Alert("data_gap", "critical" if failed else "warning", {}, annotations, hour)


_REASONS = {
    "en": {
        "price_below_90d_low": "promo price {promo_price} under the 90-day low {lowest_price_90d}",
        "price_below_floor": "promo price {promo_price} under the price floor (list {list_price})",
        "commitment_over_stock": "commits {stock_commitment} units, {available} available",
        "threshold_inconsistent": "discount {discount_amount} >= threshold {threshold_amount}",
    },
    "zh-CN": {
        "price_below_90d_low": "活动价 {promo_price} 低于 90 天最低价 {lowest_price_90d}",
        "price_below_floor": "活动价 {promo_price} 低于价格下限（原价 {list_price}）",
        "commitment_over_stock": "承诺 {stock_commitment} 件，可用库存仅 {available} 件",
        "threshold_inconsistent": "优惠 {discount_amount} 不低于门槛 {threshold_amount}",
    },
}


def promo_audit_alert(row: Row, hour: datetime, *, locale: str = "en") -> Alert:
    """promo_audit for a promotion (threshold findings) or one of its items."""
    words = _REASONS["zh-CN" if _zh(locale) else "en"]
    reasons = list(row["reasons"])
    lines = [words[r].format(**{k: row.get(k) for k in row}) for r in reasons]
    sku = row["sku_id"]
    target = f"{row['promo_id']}" + (f" / {sku}" if sku else "")
    if _zh(locale):
        summary = f"活动设置风险 {target}：{lines[0]}"
        action = "活动开始前修改活动价、门槛或承诺数量。"
    else:
        summary = f"Promotion {target}: {lines[0]}"
        action = "Fix the promotion price, threshold or committed quantity before it starts."
    labels = {"promo_id": str(row["promo_id"])}
    if sku:
        labels["sku_id"] = str(sku)
    annotations = {
        "summary": summary,
        "description": str(row["promo_name"] or ""),
        "value": _num(row["promo_price"]) if row["promo_price"] is not None else "",
        "baseline": _num(row["lowest_price_90d"]) if row["lowest_price_90d"] is not None else "",
        "unit": "currency" if row["promo_price"] is not None else "",
        "action": action,
        "root_cause": "\n".join(lines),
        "reasons": ",".join(reasons),
    }
    severity = "critical" if "threshold_inconsistent" in reasons else "warning"
    return Alert("promo_audit", severity, labels, annotations, hour)


def threshold_alert(row: Row, hour: datetime, *, locale: str = "en") -> Alert:
    """A user threshold rule breached in one scope."""
    labels = {}
    if row["source"]:
        labels["source"] = str(row["source"])
    if row["sku_id"]:
        labels["sku_id"] = str(row["sku_id"])
    scope = ", ".join(f"{k} {v}" for k, v in labels.items()) or ("全店" if _zh(locale) else "shop")
    value = _num(row["value"])
    if _zh(locale):
        summary = (
            f"{row['name']}：{scope} {row['metric']} = {value}（{row['op']} {row['threshold']:g}）"
        )
    else:
        summary = (
            f"{row['name']}: {row['metric']} {value} in {scope} ({row['op']} {row['threshold']:g})"
        )
    annotations = {
        "summary": summary,
        "description": "",
        "value": value,
        "baseline": "",
        "threshold": _num(row["threshold"]),
        "metric": str(row["metric"]),
        "root_cause": "",
    }
    return Alert(
        str(row["name"]),
        str(row["severity"]),
        labels,
        annotations,
        hour,
        for_hours=int(row["for_hours"]),
    )
