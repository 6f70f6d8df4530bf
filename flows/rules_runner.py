"""Evaluate the alert rules for one closed local hour and hand the results to alerts.

`evaluate_hour` reads what the rules need (only what was known at the end of the hour:
marts of earlier hours, core rows filtered by the hour's end), calls the pure rules in
`transforms/` and turns their candidates into `Alert`s. `evaluate_and_dispatch` also
records/sends them. The hourly flow, backfills and `shoppulse evaluate` all call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import polars as pl

from alerts import DispatchResult, dispatch
from alerts.candidates import (
    cancel_alert,
    conversion_alert,
    data_gap_alert,
    low_stock_alert,
    promo_audit_alert,
    threshold_alert,
)
from alerts.model import Alert
from flows.clock import hour_start
from flows.errors import ConfigError
from flows.settings import Settings
from flows.warehouse import Warehouse, read_sql
from transforms.cancellations import cancel_replicas, cancel_spike, local_days_back
from transforms.conversion import (
    PROMO_STATE,
    conversion_drop,
    conversion_scores,
    sku_breakdown,
    source_breakdown,
)
from transforms.gaps import data_gap, expected_volume
from transforms.kpis import measures
from transforms.promo_audit import promo_audit
from transforms.stockout import available_stock, demand_rates, low_stock_promo, promo_sales
from transforms.thresholds import Threshold, threshold_breaches, unknown_metric
from transforms.time import local_hour_start

__all__ = ["BUILTIN_RULES", "evaluate_and_dispatch", "evaluate_hour", "rule_names"]

HOUR = timedelta(hours=1)
BUILTIN_RULES = ("conversion_drop", "low_stock_promo", "cancel_spike", "data_gap", "promo_audit")
# how far back sales are read for a SKU's usual demand, and inventory snapshots stay valid
DEMAND_DAYS = 14
SNAPSHOT_MAX_AGE = timedelta(days=7)
# cancellations of the lines created in the evaluated hour (a spike shows in its first hour)
CANCEL_WINDOW_HOURS = 1
GAP_DATASETS = ("orders", "traffic", "inventory", "keywords")


@dataclass(frozen=True)
class _Hour:
    """The evaluated hour: its start, its end (= as_of, the instant the rules stand at)."""

    start: datetime
    end: datetime
    tz: str


def rule_names(settings: Settings) -> set[str]:
    """Every alertname a run evaluates: the built-in rules and the configured thresholds."""
    return {*BUILTIN_RULES, *(rule.name for rule in settings.rules.thresholds)}


def _frame(wh: Warehouse, model: str, params: dict[str, Any]) -> pl.DataFrame:
    return wh.frame(read_sql(f"reads/{model}"), params)


def _ts(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    # DuckDB hands back instants in the session zone; rules compare them in UTC
    return frame.with_columns([pl.col(c).cast(pl.Datetime("us", "UTC")) for c in columns])


# -- conversion_drop ---------------------------------------------------------------------


def _current_measures(wh: Warehouse, h: _Hour, promotions: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The evaluated hour's KPIs for shop, each source and each SKU, as known at its end."""
    params = {"start": h.start, "end": h.end, "as_of": h.end}
    orders = _ts(_frame(wh, "rules_orders_asof", params), "created_at", "paid_at", "updated_at")
    traffic = _ts(_frame(wh, "traffic_in_span", {"start": h.start, "end": h.end}), "hour")
    hours = pl.Series("hour", [h.start], dtype=pl.Datetime("us", "UTC"))
    running = promotions.filter((pl.col("starts_at") < h.end) & (pl.col("ends_at") > h.start))
    in_promo = bool(running.height)
    promo_state = "+".join(sorted(set(running.get_column("kind").to_list())))
    frames = {}
    for scope, keys in (("shop", []), ("source", ["source"]), ("sku", ["sku_id"])):
        frames[scope] = measures(orders, traffic, hours, h.tz, keys).with_columns(
            in_promo=pl.lit(in_promo), promo_state=pl.lit(promo_state)
        )
    return frames


def _conversion_input(
    wh: Warehouse, settings: Settings, h: _Hour, current: dict[str, pl.DataFrame]
) -> pl.DataFrame:
    days = settings.rules.conversion_drop.baseline_days
    history = _ts(
        _frame(
            wh,
            "rules_kpi_history",
            {"start": h.start - timedelta(days=days + 1), "end": h.start, "as_of": h.end},
        ),
        "hour",
    )
    columns = ["hour", "source", "visitors", "buyers", "gmv", "in_promo", PROMO_STATE]
    now = pl.concat(
        [
            current["shop"].with_columns(source=pl.lit(None, dtype=pl.String)).select(columns),
            current["source"].select(columns),
        ]
    )
    return pl.concat([history.select(columns), now.select(columns)], how="vertical_relaxed")


def _sku_causes(
    wh: Warehouse, h: _Hour, row: dict[str, Any], baseline_days: int
) -> list[dict[str, Any]]:
    """The SKUs that account for most of a drop's missing buyers, in the drop's scope."""
    run = int(row["run_hours"])
    window = [h.start - HOUR * i for i in range(run)]
    baseline = [local_days_back(w, d, h.tz) for w in window for d in range(1, baseline_days + 1)]
    wanted = window + baseline
    rows = _ts(
        _frame(
            wh,
            "rules_sku_source_hours",
            {"hours": wanted, "start": min(wanted), "end": h.end},
        ),
        "hour",
    )
    return sku_breakdown(
        rows, pl.Series(window).cast(pl.Datetime("us", "UTC")), row["source"]
    ).to_dicts()


def _conversion(
    wh: Warehouse, settings: Settings, h: _Hour, current: dict[str, pl.DataFrame]
) -> list[Alert]:
    rules = settings.rules.conversion_drop
    hourly = _conversion_input(wh, settings, h, current)
    hours = pl.Series("hour", [h.start], dtype=pl.Datetime("us", "UTC"))
    scores = conversion_scores(
        hourly, hours, h.tz, baseline_days=rules.baseline_days, min_drop=rules.min_drop
    )
    found = conversion_drop(
        scores, min_drop=rules.min_drop, min_visitors=rules.min_visitors, alpha=rules.alpha
    )
    alerts = []
    for row in found.to_dicts():
        width = min(int(row["run_hours"]), max(scores.get_column("window_hours")))
        sources = (
            source_breakdown(scores, h.start, width).to_dicts() if row["source"] is None else []
        )
        skus = _sku_causes(wh, h, row, rules.baseline_days)
        alerts.append(
            conversion_alert(row, h.start, sources=sources, skus=skus, locale=settings.shop.locale)
        )
    return alerts


# -- promotions, stock ------------------------------------------------------------------


def _promotions(wh: Warehouse, settings: Settings, h: _Hour) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Promotions known at the hour's end that ran in the demand window or run within the
    lookahead, and their items."""
    lookahead = timedelta(hours=settings.rules.low_stock_promo.lookahead_hours)
    promotions = _ts(
        _frame(
            wh,
            "rules_promotions",
            {
                "start": h.start - timedelta(days=DEMAND_DAYS),
                "end": h.end + lookahead + HOUR,
                "as_of": h.end,
            },
        ),
        "starts_at",
        "ends_at",
        "updated_at",
    )
    ids = promotions.get_column("promo_id").to_list()
    items = _frame(wh, "rules_promotion_items", {"promo_ids": ids})
    return promotions, items


def _stock(wh: Warehouse, h: _Hour) -> pl.DataFrame:
    inventory = _ts(
        _frame(wh, "inventory_at", {"as_of": h.end, "max_age": SNAPSHOT_MAX_AGE}), "snapshot_at"
    )
    # sales since the oldest of the SKUs' latest snapshots (usually the last hour's)
    latest = (
        inventory.filter(pl.col("snapshot_at") < h.end)
        .group_by("sku_id")
        .agg(pl.col("snapshot_at").max())
        .get_column("snapshot_at")
        .min()
    )
    since = latest if isinstance(latest, datetime) else h.end
    paid = _ts(_frame(wh, "paid_lines_in_span", {"start": since, "end": h.end}), "paid_at")
    return available_stock(inventory, paid, h.end)


def _low_stock(
    wh: Warehouse,
    settings: Settings,
    h: _Hour,
    promotions: pl.DataFrame,
    items: pl.DataFrame,
    stock: pl.DataFrame,
    products: pl.DataFrame,
) -> list[Alert]:
    rules = settings.rules.low_stock_promo
    lookahead = timedelta(hours=rules.lookahead_hours)
    relevant = promotions.filter(
        (pl.col("starts_at") <= h.end + lookahead) & (pl.col("ends_at") > h.end)
    )
    skus = items.join(relevant.select("promo_id"), on="promo_id", how="semi").get_column("sku_id")
    if skus.is_empty():
        return []
    start = h.start - timedelta(days=DEMAND_DAYS)
    sku_units = _ts(
        _frame(
            wh,
            "rules_sku_units",
            {"skus": skus.unique().to_list(), "start": start, "end": h.end},
        ),
        "hour",
    )
    shop = _ts(
        _frame(wh, "rules_kpi_history", {"start": start, "end": h.end, "as_of": h.end}), "hour"
    ).filter(pl.col("source").is_null())
    shape, rates = demand_rates(sku_units, shop, promotions, items, skus, h.tz)
    sales = promo_sales(
        sku_units,
        promotions,
        items,
        rates,
        shape,
        h.end,
        h.tz,
        velocity_hours=rules.velocity_hours,
    )
    found = low_stock_promo(
        stock,
        products,
        relevant,
        items,
        rates,
        shape,
        sales,
        h.end,
        h.tz,
        lookahead_hours=rules.lookahead_hours,
        min_cover_hours=rules.min_cover_hours,
        uplift=rules.uplift,
    )
    return [
        low_stock_alert(row, h.start, tz=settings.shop.tz, locale=settings.shop.locale)
        for row in found.to_dicts()
    ]


def _audit(
    settings: Settings,
    h: _Hour,
    promotions: pl.DataFrame,
    items: pl.DataFrame,
    stock: pl.DataFrame,
    products: pl.DataFrame,
) -> list[Alert]:
    found = promo_audit(
        promotions,
        items,
        products,
        stock,
        h.end,
        price_floor_ratio=settings.rules.promo_audit.price_floor_ratio,
    )
    return [
        promo_audit_alert(row, h.start, locale=settings.shop.locale) for row in found.to_dicts()
    ]


# -- cancel_spike, data_gap, thresholds ----------------------------------------------------


def _cancel(wh: Warehouse, settings: Settings, h: _Hour, promotions: pl.DataFrame) -> list[Alert]:
    rules = settings.rules.cancel_spike
    days = settings.rules.conversion_drop.baseline_days
    running = promotions.filter((pl.col("starts_at") < h.end) & (pl.col("ends_at") > h.start))
    if running.is_empty():
        return []
    width = timedelta(hours=CANCEL_WINDOW_HOURS)
    starts = [local_days_back(h.end, d, h.tz) - width for d in range(days + 1)]
    lines = _ts(
        _frame(
            wh,
            "rules_cancel_lines",
            {"starts": starts, "width": width, "start": min(starts), "end": h.end},
        ),
        "created_at",
        "updated_at",
    )
    replicas = cancel_replicas(
        lines, h.start, h.tz, baseline_days=days, window_hours=CANCEL_WINDOW_HOURS
    )
    found = cancel_spike(
        replicas,
        h.start,
        in_promo=True,
        min_ratio=rules.min_ratio,
        min_lines=rules.min_lines,
        alpha=settings.rules.conversion_drop.alpha,
    )
    return [cancel_alert(row, h.start, locale=settings.shop.locale) for row in found.to_dicts()]


def _gap(wh: Warehouse, settings: Settings, h: _Hour) -> list[Alert]:
    failures = _frame(wh, "rules_export_failures", {"as_of": h.end})
    days = settings.rules.conversion_drop.baseline_days
    volumes = _ts(
        _frame(wh, "rules_volumes", {"start": h.start - timedelta(days=days), "end": h.end}),
        "bucket",
    )
    counts = (
        volumes.with_columns(hour=local_hour_start(pl.col("bucket"), h.tz))
        .group_by("dataset", "hour")
        .agg(rows=pl.col("row_count").sum())
    )
    observed = counts.filter(pl.col("hour") == h.start).select("dataset", "rows")
    expected = expected_volume(counts.filter(pl.col("hour") < h.start), h.start, h.tz)
    found = data_gap(
        failures,
        observed,
        expected.filter(pl.col("dataset").is_in(GAP_DATASETS)),
        h.start,
    )
    if found.is_empty():
        return []
    return [data_gap_alert(found.to_dicts(), h.start, locale=settings.shop.locale)]


def _thresholds(settings: Settings, h: _Hour, current: dict[str, pl.DataFrame]) -> list[Alert]:
    rules = [Threshold(**rule.model_dump()) for rule in settings.rules.thresholds]
    if not rules:
        return []
    for index, rule in enumerate(rules):
        problem = unknown_metric(rule, current)
        if problem is not None:
            raise ConfigError(f"rules.thresholds.{index} ({rule.name}): {problem}")
    in_promo = bool(current["shop"].get_column("in_promo").any())
    found = threshold_breaches(rules, current, in_promo=in_promo)
    return [threshold_alert(row, h.start, locale=settings.shop.locale) for row in found.to_dicts()]


# -- entry points --------------------------------------------------------------------------


def evaluate_hour(
    wh: Warehouse, settings: Settings, hour: datetime
) -> tuple[list[Alert], set[str]]:
    """The alerts the rules raise for the local hour containing `hour`, and the alertnames
    evaluated, using only data known at the end of that hour."""
    tz = settings.shop.timezone
    start = hour_start(hour, settings.shop.tz)
    h = _Hour(start=start, end=start + HOUR, tz=tz)
    promotions, items = _promotions(wh, settings, h)
    products = _frame(wh, "rules_products", {"as_of": h.end})
    stock = _stock(wh, h)
    current = _current_measures(wh, h, promotions)
    alerts = [
        *_gap(wh, settings, h),
        *_conversion(wh, settings, h, current),
        *_cancel(wh, settings, h, promotions),
        *_low_stock(wh, settings, h, promotions, items, stock, products),
        *_audit(settings, h, promotions, items, stock, products),
        *_thresholds(settings, h, current),
    ]
    return alerts, rule_names(settings)


def evaluate_and_dispatch(
    wh: Warehouse,
    settings: Settings,
    hour: datetime,
    mode: Literal["record", "deliver"] = "deliver",
    now: datetime | None = None,
) -> DispatchResult:
    """Evaluate the hour's rules, then record (and in `deliver` mode send) the alerts."""
    alerts, evaluated = evaluate_hour(wh, settings, hour)
    start = hour_start(hour, settings.shop.tz)
    return dispatch(wh, settings, start, alerts, evaluated, mode=mode, now=now)
