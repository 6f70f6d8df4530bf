"""Evaluate the alert rules for one closed local hour and hand the results to alerts.

`evaluate_hour` reads what every rule shares (promotions, stock, the hour's measures; only
what was known at the end of the hour), runs each rule of the registry in
`transforms.rules` with a reader limited to the read models it declares, and turns their
candidates into `Alert`s. `evaluate_and_dispatch` also records/sends them. The hourly flow,
backfills and `shoppulse evaluate` all call these.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

import polars as pl

from alerts import DispatchResult, dispatch
from alerts.model import Alert
from flows.clock import hour_start
from flows.errors import ConfigError
from flows.settings import Settings
from flows.warehouse import Warehouse, read_sql
from transforms.kpis import measures
from transforms.rules import (
    RULES,
    Candidate,
    Context,
    Hour,
    Reader,
    Rule,
    Shared,
    ThresholdError,
    evaluate_thresholds,
    low_stock_promo,
)
from transforms.rules.base import running as running_promotions
from transforms.rules.base import utc
from transforms.stockout import available_stock
from transforms.time import HOUR

__all__ = ["evaluate_and_dispatch", "evaluate_hour", "rule_names"]

# inventory snapshots older than this no longer count as the SKU's stock
SNAPSHOT_MAX_AGE = timedelta(days=7)
# the frames every rule shares, read once per hour by `_shared`
SHARED_READS = (
    "rules_promotions",
    "rules_promotion_items",
    "rules_products",
    "inventory_at",
    "paid_lines_in_span",
    "rules_orders_asof",
    "traffic_in_span",
)


class UndeclaredReadError(RuntimeError):
    """A rule read a model it does not list in its `reads`."""


def rule_names(settings: Settings) -> set[str]:
    """Every alertname a run evaluates: the built-in rules and the configured thresholds."""
    return {*(r.alertname for r in RULES), *(rule.name for rule in settings.rules.thresholds)}


def _reader(wh: Warehouse, allowed: tuple[str, ...], who: str) -> Reader:
    def read(model: str, params: Mapping[str, Any]) -> pl.DataFrame:
        if model not in allowed:
            raise UndeclaredReadError(f"{who} reads {model!r}, which it does not declare")
        return wh.frame(read_sql(f"reads/{model}"), dict(params))

    return read


def _promotions(read: Reader, settings: Settings, h: Hour) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Promotions known at the hour's end that ran in the demand window or run within the
    lookahead, and their items."""
    stock_rule: low_stock_promo.LowStockPromoSettings = settings.rules.of(low_stock_promo.ALERTNAME)
    lookahead = timedelta(hours=stock_rule.lookahead_hours)
    promotions = utc(
        read(
            "rules_promotions",
            {
                "start": h.start - timedelta(days=low_stock_promo.DEMAND_DAYS),
                "end": h.end + lookahead + HOUR,
                "as_of": h.end,
            },
        ),
        "starts_at",
        "ends_at",
        "updated_at",
    )
    ids = promotions.get_column("promo_id").to_list()
    items = read("rules_promotion_items", {"promo_ids": ids})
    return promotions, items


def _stock(read: Reader, h: Hour) -> pl.DataFrame:
    inventory = utc(
        read("inventory_at", {"as_of": h.end, "max_age": SNAPSHOT_MAX_AGE}), "snapshot_at"
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
    paid = utc(read("paid_lines_in_span", {"start": since, "end": h.end}), "paid_at")
    return available_stock(inventory, paid, h.end)


def _current_measures(read: Reader, h: Hour, promotions: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The evaluated hour's KPIs for shop, each source and each SKU, as known at its end."""
    params = {"start": h.start, "end": h.end, "as_of": h.end}
    orders = utc(read("rules_orders_asof", params), "created_at", "paid_at", "updated_at")
    traffic = utc(read("traffic_in_span", {"start": h.start, "end": h.end}), "hour")
    hours = pl.Series("hour", [h.start], dtype=pl.Datetime("us", "UTC"))
    running = running_promotions(promotions, h)
    in_promo = bool(running.height)
    promo_state = "+".join(sorted(set(running.get_column("kind").to_list())))
    frames = {}
    for scope, keys in (("shop", []), ("source", ["source"]), ("sku", ["sku_id"])):
        frames[scope] = measures(orders, traffic, hours, h.tz, keys).with_columns(
            in_promo=pl.lit(in_promo), promo_state=pl.lit(promo_state)
        )
    return frames


def _shared(wh: Warehouse, settings: Settings, h: Hour) -> Shared:
    read = _reader(wh, SHARED_READS, "the rules runner")
    promotions, items = _promotions(read, settings, h)
    return Shared(
        promotions=promotions,
        items=items,
        products=read("rules_products", {"as_of": h.end}),
        stock=_stock(read, h),
        current=_current_measures(read, h, promotions),
    )


def _alert(candidate: Candidate, hour: datetime) -> Alert:
    return Alert(
        candidate.alertname,
        candidate.severity,
        candidate.labels,
        candidate.annotations,
        hour,
        impact=candidate.impact,
        for_hours=candidate.for_hours,
        inhibits=candidate.inhibits,
    )


def _context(wh: Warehouse, settings: Settings, h: Hour, shared: Shared, rule: Rule) -> Context:
    read = _reader(wh, rule.reads, f"rule {rule.alertname}")
    return Context(h, shared, read, settings.rules, settings.shop.locale)


def evaluate_hour(
    wh: Warehouse, settings: Settings, hour: datetime
) -> tuple[list[Alert], set[str]]:
    """The alerts the rules raise for the local hour containing `hour`, and the alertnames
    evaluated, using only data known at the end of that hour."""
    start = hour_start(hour, settings.shop.tz)
    h = Hour(start=start, end=start + HOUR, tz=settings.shop.timezone)
    shared = _shared(wh, settings, h)
    candidates: list[Candidate] = []
    for rule in RULES:
        candidates += rule.evaluate(_context(wh, settings, h, shared, rule))
    # an hour whose data is missing is no measure of the business: thresholds skip it
    if not any(c.incomplete for c in candidates):
        threshold_ctx = Context(
            h, shared, _reader(wh, (), "thresholds"), settings.rules, settings.shop.locale
        )
        try:
            candidates += evaluate_thresholds(threshold_ctx, settings.rules.thresholds)
        except ThresholdError as exc:
            raise ConfigError(str(exc)) from None
    return [_alert(c, h.start) for c in candidates], rule_names(settings)


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
