"""The alert rules of transforms/ on small literal frames with hand-worked answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from scipy import stats

from transforms.cancellations import cancel_replicas, cancel_spike, local_days_back
from transforms.conversion import (
    NEW_PROMO_FLOOR,
    NEW_PROMO_VAR,
    conversion_baseline,
    conversion_drop,
    conversion_scores,
    sku_breakdown,
)
from transforms.gaps import data_gap, empty_hours, expected_volume, failed_hours
from transforms.promo_audit import promo_audit
from transforms.promo_check import registration_checks, registration_of
from transforms.rules import promo_audit as audit_rule
from transforms.stats import effective_rho, lower_tail, moment_rho, upper_tail
from transforms.stockout import available_stock, low_stock_promo, promo_sales
from transforms.thresholds import Threshold, threshold_breaches

TS = pl.Datetime("us", "UTC")
TZ = "Asia/Shanghai"
HOUR = timedelta(hours=1)
# the evaluated hour: 2026-11-11 20:00 in Shanghai
H = datetime(2026, 11, 11, 12, tzinfo=UTC)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# -- the statistical test --------------------------------------------------------------------


def test_lower_tail_is_the_binomial_without_overdispersion() -> None:
    got = lower_tail([20, 45], [1000, 1000], 0.05)
    assert got == pytest.approx(stats.binom.cdf([20, 45], 1000, 0.05))


def test_overdispersion_widens_the_tail_more_at_high_volume() -> None:
    # the same 20% drop: at 1,000 visitors rho barely matters, at 100,000 it dominates
    low = lower_tail(40, 1000, 0.05, [0.0, 0.0005])
    high = lower_tail(4000, 100_000, 0.05, [0.0, 0.0005])
    assert low[1] / low[0] < 3
    assert high[0] < 1e-40 and high[1] > 1e-3


def test_upper_tail_matches_the_binomial_survival() -> None:
    assert upper_tail(12, 30, 0.1)[()] == pytest.approx(stats.binom.sf(11, 30, 0.1))


def test_effective_rho_reproduces_the_variance() -> None:
    n, p = 1000.0, 0.05
    variance = n * p * (1 - p) * 1.5
    rho = effective_rho(n, p, variance)[()]
    assert n * p * (1 - p) * (1 + (n - 1) * rho) == pytest.approx(variance)
    assert effective_rho(n, p, n * p * (1 - p) * 0.5)[()] == 0.0  # never under binomial


def test_moment_rho_recovers_a_known_overdispersion() -> None:
    rng = np.random.default_rng(7)
    n = np.full(4000, 2000)
    rates = rng.beta(0.05 * 999, 0.95 * 999, 4000)  # rho = 1 / (999 + 1) = 0.001
    x = rng.binomial(n, rates)
    assert moment_rho(x, n, 0.05) == pytest.approx(0.001, rel=0.15)
    assert moment_rho(rng.binomial(n, 0.05), n, 0.05) < 0.0001


# -- conversion_drop ---------------------------------------------------------------------------


def history(
    visitors: int, buyers: int, *, days: int = 14, source: str | None = None
) -> list[dict[str, object]]:
    """The same local hour as H on each of the previous `days` days."""
    return [
        {
            "hour": local_days_back(H, d, TZ),
            "source": source,
            "visitors": visitors,
            "buyers": buyers,
            "gmv": buyers * 120.0,
            "in_promo": False,
        }
        for d in range(1, days + 1)
    ]


def frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    schema = {
        "hour": TS,
        "source": pl.String,
        "visitors": pl.Int64,
        "buyers": pl.Int64,
        "gmv": pl.Float64,
        "in_promo": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema)


def now(visitors: int, buyers: int, source: str | None = None) -> dict[str, object]:
    return {
        "hour": H,
        "source": source,
        "visitors": visitors,
        "buyers": buyers,
        "gmv": buyers * 100.0,
        "in_promo": False,
    }


def drops(hourly: pl.DataFrame, **kw: object) -> pl.DataFrame:
    scores = conversion_scores(hourly, pl.Series([H], dtype=TS), TZ)
    return conversion_drop(scores, **kw)  # type: ignore[arg-type]


def test_a_drop_against_a_flat_baseline_worked_by_hand() -> None:
    # 14 days of 1000 visitors and 50 buyers (5%), then 20 buyers: a 60% drop
    found = drops(frame([*history(1000, 50), now(1000, 20)]))
    row = found.row(0, named=True)
    assert found.height == 1 and row["source"] is None
    assert row["baseline_rate"] == pytest.approx(0.05)
    assert row["baseline_hours"] == 14
    assert row["window_hours"] == 1
    assert row["drop"] == pytest.approx(0.6)
    assert row["missing_buyers"] == pytest.approx(30)
    assert row["gmv_lost"] == pytest.approx(30 * 120.0)  # missing buyers x baseline AOV
    # no spread between baseline days (rho 0): binomial hour plus the baseline's own error,
    # 1000 p (1-p) + 1000^2 p (1-p) / 14000, folded into one beta-binomial
    variance = 1000 * 0.05 * 0.95 + 1000**2 * 0.05 * 0.95 / 14000
    rho = (variance / (1000 * 0.05 * 0.95) - 1) / 999
    a, b = 0.05 * (1 / rho - 1), 0.95 * (1 / rho - 1)
    assert row["p_value"] == pytest.approx(stats.betabinom.cdf(20, 1000, a, b))


def test_the_one_hour_window_gets_half_the_false_alert_budget() -> None:
    # windows of 1, 2 and 3 hours: the one-hour test runs at alpha / 2, not alpha / 3
    rows = []
    for back in (2, 1, 0):
        at = H - HOUR * back
        rows += [
            {**r, "hour": local_days_back(at, d + 1, TZ)} for d, r in enumerate(history(1000, 50))
        ]
        rows.append({**now(1000, 32 if back == 0 else 50), "hour": at})
    scores = conversion_scores(frame(rows), pl.Series([H], dtype=TS), TZ)
    assert sorted(scores.get_column("window_hours")) == [1, 2, 3]
    p = scores.filter(pl.col("window_hours") == 1).item(0, "p_value")
    assert conversion_drop(scores, alpha=p * 2.2).height == 1  # p < alpha / 2
    assert conversion_drop(scores, alpha=p * 1.9).is_empty()  # p > alpha / 2


def test_low_volume_needs_a_bigger_drop_than_high_volume() -> None:
    # a 30% drop: 150 visitors (7.5 expected buyers) is noise, 20,000 visitors is not
    low = frame([*history(150, 8), now(150, 5)])
    high = frame([*history(20_000, 1000), now(20_000, 700)])
    assert drops(low, min_visitors=100).is_empty()
    assert drops(high).height == 1


def test_a_small_drop_at_high_volume_is_not_an_alert() -> None:
    # 10% down on 50,000 visitors is significant but under min_drop
    hourly = frame([*history(50_000, 2500), now(50_000, 2250)])
    scores = conversion_scores(hourly, pl.Series([H], dtype=TS), TZ)
    assert scores.filter(pl.col("window_hours") == 1).item(0, "p_value") < 1e-4
    assert conversion_drop(scores).is_empty()


def test_too_few_visitors_are_not_judged() -> None:
    assert drops(frame([*history(90, 9), now(90, 0)])).is_empty()


def test_anomalous_and_promotion_hours_are_left_out_of_the_baseline() -> None:
    rows = history(1000, 50)
    rows[0] = {**rows[0], "buyers": 5}  # yesterday's incident: not a baseline
    rows[1] = {**rows[1], "buyers": 90, "in_promo": True}  # a promotion day: another state
    row = drops(frame([*rows, now(1000, 20)])).row(0, named=True)
    assert row["baseline_hours"] == 12
    assert row["baseline_rate"] == pytest.approx(0.05)


def test_evidence_accumulates_over_consecutive_hours() -> None:
    # two hours 28% down on 2000 visitors: neither alone, the two together
    rows = []
    for back in (1, 0):
        at = H - HOUR * back
        rows += [
            {**r, "hour": local_days_back(at, d + 1, TZ)} for d, r in enumerate(history(2000, 100))
        ]
        rows.append({**now(2000, 72), "hour": at})
    hourly = frame(rows)
    one = conversion_scores(hourly, pl.Series([H - HOUR], dtype=TS), TZ)
    assert conversion_drop(one).is_empty()
    found = conversion_drop(conversion_scores(hourly, pl.Series([H], dtype=TS), TZ))
    row = found.row(0, named=True)
    assert row["window_hours"] == 2 and row["run_hours"] == 2
    assert row["missing_buyers"] == pytest.approx(56)


def test_each_source_is_judged_on_its_own_baseline() -> None:
    rows = [
        *history(600, 30, source="search"),
        *history(400, 20, source="ads"),
        *history(1000, 50),
        now(600, 6, source="search"),
        now(400, 20, source="ads"),
        now(1000, 26),
    ]
    found = drops(frame(rows))
    assert found.get_column("source").to_list() == [None, "search"]


def test_the_sku_breakdown_names_the_skus_missing_most_buyers() -> None:
    window = [H]
    rows = pl.DataFrame(
        {
            "hour": [H, H, H, H - timedelta(days=1), H - timedelta(days=1), H - timedelta(days=1)],
            "source": ["search"] * 6,
            "sku_id": ["A", "B", "C", "A", "B", "C"],
            "visitors": [100, 100, 100, 100, 100, 100],
            "buyers": [2, 9, 10, 10, 10, 10],
        },
        schema_overrides={"hour": TS},
    )
    got = sku_breakdown(rows, pl.Series(window, dtype=TS), "search")
    assert got.get_column("sku_id").to_list() == ["A", "B"]
    assert got.get_column("missing_buyers").to_list() == pytest.approx([8, 1])
    assert got.get_column("share").to_list() == pytest.approx([8 / 9, 1 / 9])


# -- low_stock_promo --------------------------------------------------------------------------

AS_OF = H + HOUR
PROMOS = pl.DataFrame(
    {
        "promo_id": ["P1"],
        "kind": ["discount"],
        "starts_at": [AS_OF + 2 * HOUR],
        "ends_at": [AS_OF + 12 * HOUR],
    },
    schema_overrides={"starts_at": TS, "ends_at": TS},
)
ITEMS = pl.DataFrame({"promo_id": ["P1"], "sku_id": ["A"], "promo_price": [50.0]})
SHAPE = pl.DataFrame({"hod": list(range(24)), "shape": [1.0] * 24})
RATES = pl.DataFrame({"sku_id": ["A"], "rate": [2.0]})
NO_SALES = pl.DataFrame(
    schema={"sku_id": pl.String, "promo_id": pl.String, "units": pl.Float64, "usual": pl.Float64}
)


def low_stock(available: int, safety: int = 5) -> pl.DataFrame:
    return low_stock_promo(
        pl.DataFrame({"sku_id": ["A"], "available": [available]}),
        pl.DataFrame({"sku_id": ["A"], "safety_stock": [safety]}),
        PROMOS,
        ITEMS,
        RATES,
        SHAPE,
        NO_SALES,
        AS_OF,
        TZ,
        uplift={"discount": 3.0},
    )


def test_an_upcoming_promotion_that_will_sell_out_is_warned_before_it_starts() -> None:
    # 2 units/h for the 2 hours before the start, then 2 x 3 = 6/h for 10 hours: 64 units.
    # 40 available: 4 sold before the start, the other 36 last 6 hours: cover 8 h.
    row = low_stock(40).row(0, named=True)
    assert row["demand_to_end"] == pytest.approx(64)
    assert row["hours_of_cover"] == pytest.approx(8)
    assert row["projected_stockout_at"] == AS_OF + 8 * HOUR
    assert (row["severity"], row["reason"]) == ("warning", "sells_out_before_end")
    assert row["shortfall"] == pytest.approx(24)


@pytest.mark.parametrize(
    ("available", "safety", "expected"),
    [
        (100, 5, None),  # lasts past the end
        (0, 5, ("critical", "out_of_stock")),
        (3, 0, ("critical", "sells_out_before_end")),  # 1.5 h of cover
        (70, 80, ("warning", "at_or_below_safety_stock")),
    ],
)
def test_low_stock_severity(available: int, safety: int, expected: tuple[str, str] | None) -> None:
    found = low_stock(available, safety)
    got = found.select("severity", "reason").row(0) if found.height else None
    assert got == expected


def test_observed_sales_replace_the_prior_uplift_once_the_promotion_runs() -> None:
    running = PROMOS.with_columns(starts_at=pl.lit(AS_OF - 6 * HOUR, dtype=TS))
    # 6 hours sold 72 units where 12 were usual: 6x observed; prior 3x worth 3 usual hours
    sales = pl.DataFrame({"sku_id": ["A"], "promo_id": ["P1"], "units": [72.0], "usual": [12.0]})
    found = low_stock_promo(
        pl.DataFrame({"sku_id": ["A"], "available": [100]}),
        pl.DataFrame({"sku_id": ["A"], "safety_stock": [5]}),
        running,
        ITEMS,
        RATES,
        SHAPE,
        sales,
        AS_OF,
        TZ,
        uplift={"discount": 3.0},
    )
    row = found.row(0, named=True)
    assert row["uplift"] == pytest.approx((72 + 3 * 6) / (12 + 6))  # 5x
    assert row["demand_to_end"] == pytest.approx(12 * 2 * 5)


def test_promotion_sales_are_read_over_the_last_velocity_hours() -> None:
    running = PROMOS.with_columns(starts_at=pl.lit(AS_OF - 10 * HOUR, dtype=TS))
    # a launch surge of 40 units an hour for 4 hours, then 10 an hour
    units = pl.DataFrame(
        {
            "hour": [AS_OF - (10 - i) * HOUR for i in range(10)],
            "sku_id": ["A"] * 10,
            "units": [40] * 4 + [10] * 6,
        },
        schema_overrides={"hour": TS},
    )
    got = promo_sales(units, running, ITEMS, RATES, SHAPE, AS_OF, TZ, velocity_hours=6)
    assert got.select("units", "usual").row(0) == (60.0, 12.0)


def test_available_stock_subtracts_units_sold_since_the_snapshot() -> None:
    inventory = pl.DataFrame(
        {
            "snapshot_at": [H - HOUR, H, H, AS_OF],
            "sku_id": ["A", "A", "A", "A"],
            "warehouse": ["WH1", "WH1", "WH2", "WH1"],
            "on_hand": [500, 30, 12, 999],
            "reserved": [0, 2, 0, 0],
        },
        schema_overrides={"snapshot_at": TS},
    )
    paid = pl.DataFrame(
        {"sku_id": ["A", "A", "A"], "quantity": [4, 3, 50], "paid_at": [H - HOUR, H, AS_OF]},
        schema_overrides={"paid_at": TS},
    )
    got = available_stock(inventory, paid, AS_OF)
    assert got.select("sku_id", "available").rows() == [("A", 30 - 2 + 12 - 3)]


# -- cancel_spike -------------------------------------------------------------------------------


def cancel_lines(day: int, lines: int, cancelled: int, promo: str | None = "FR") -> list[dict]:
    created = local_days_back(H, day, TZ) + timedelta(minutes=10)
    return [
        {
            "created_at": created,
            "status": "cancelled" if i < cancelled else "paid",
            "updated_at": created + timedelta(minutes=20),
            "promo_id": promo,
        }
        for i in range(lines)
    ]


def spike_lines(today_cancelled: int, late: int = 0) -> pl.DataFrame:
    rows = [r for d in range(1, 8) for r in cancel_lines(d, 100, 10)]
    rows += cancel_lines(0, 100, today_cancelled)
    # cancelled after the evaluated hour ended: not known at its end
    rows += [
        {**r, "status": "cancelled", "updated_at": AS_OF + HOUR} for r in cancel_lines(0, late, 0)
    ]
    return pl.DataFrame(rows, schema_overrides={"created_at": TS, "updated_at": TS})


def test_cancel_spike_during_a_promotion_worked_by_hand() -> None:
    replicas = cancel_replicas(spike_lines(40), H, TZ, baseline_days=7)
    row = cancel_spike(replicas, H, in_promo=True).row(0, named=True)
    assert (row["lines"], row["cancelled"]) == (100, 40)
    assert row["baseline_rate"] == pytest.approx(0.10)
    assert row["ratio"] == pytest.approx(4.0)
    assert row["top_promo_id"] == "FR"
    assert row["p_value"] == pytest.approx(stats.binom.sf(39, 100, 0.1), rel=1e-6)


def test_no_cancel_spike_outside_promotions_or_on_a_normal_rate() -> None:
    replicas = cancel_replicas(spike_lines(40), H, TZ, baseline_days=7)
    assert cancel_spike(replicas, H, in_promo=False).is_empty()
    normal = cancel_replicas(spike_lines(12), H, TZ, baseline_days=7)
    assert cancel_spike(normal, H, in_promo=True).is_empty()


def test_cancellations_of_lines_in_no_promotion_are_not_a_promotion_spike() -> None:
    lines = spike_lines(40).with_columns(
        promo_id=pl.when(pl.col("created_at") >= H).then(None).otherwise(pl.col("promo_id"))
    )
    replicas = cancel_replicas(lines, H, TZ, baseline_days=7)
    assert cancel_spike(replicas, H, in_promo=True).is_empty()


def test_cancellations_after_the_hour_do_not_count() -> None:
    replicas = cancel_replicas(spike_lines(10, late=60), H, TZ, baseline_days=7)
    today = replicas.filter(pl.col("k") == 0)
    assert today.get_column("lines").sum() == 160
    assert today.get_column("cancelled").sum() == 10
    assert cancel_spike(replicas, H, in_promo=True).is_empty()


# -- data_gap -------------------------------------------------------------------------------------


def test_data_gap_from_a_failed_export_or_an_empty_one() -> None:
    history = pl.DataFrame(
        {
            "dataset": ["traffic"] * 5 + ["keywords"] * 5,
            "hour": [local_days_back(H, d, TZ) for d in range(1, 6)] * 2,
            "rows": [300, 310, 290, 305, 295, 8, 9, 7, 8, 8],
        },
        schema_overrides={"hour": TS},
    )
    expected = expected_volume(history, H, TZ)
    assert dict(expected.select("dataset", "expected").rows()) == {
        "traffic": 300.0,
        "keywords": 8.0,
    }
    failures = pl.DataFrame({"dataset": ["orders"], "error": ["HTTP 503 after 6 attempts"]})
    observed = pl.DataFrame(
        {"dataset": ["keywords"], "rows": [0]}, schema={"dataset": pl.String, "rows": pl.Int64}
    )
    found = data_gap(failures, observed, expected, H)
    # keywords expect only 8 rows: an empty hour can happen, not a gap
    assert found.select("dataset", "kind").rows() == [
        ("orders", "export_failed"),
        ("traffic", "no_data"),
    ]
    none = data_gap(
        failures.clear(), pl.DataFrame({"dataset": ["traffic"], "rows": [299]}), expected, H
    )
    assert none.is_empty()


def test_gap_hours_leave_cancel_baseline_days_and_the_hour_out() -> None:
    # yesterday's hour had its orders missing: that day is not part of the baseline
    gaps = pl.Series([local_days_back(H, 1, TZ)], dtype=TS)
    replicas = cancel_replicas(spike_lines(40), H, TZ, baseline_days=7, gaps=gaps)
    assert sorted(replicas.get_column("k").unique().to_list()) == [0, 2, 3, 4, 5, 6, 7]
    # a gap in the evaluated hour: nothing to judge
    now = cancel_replicas(spike_lines(40), H, TZ, baseline_days=7, gaps=pl.Series([H], dtype=TS))
    assert cancel_spike(now, H, in_promo=True).is_empty()


def test_failed_hours_reach_back_to_the_last_good_run_until_a_later_load_fills_them() -> None:
    # orders last loaded by the run at 19:00 (runs at 20:00 never ran), the 21:00 run failed
    failures = pl.DataFrame(
        {"dataset": ["orders"], "window_end": [H + HOUR]}, schema_overrides={"window_end": TS}
    )
    schema = {"dataset": pl.String, "fill_start": TS, "fill_end": TS, "clock": TS}
    good = pl.DataFrame(
        {
            "dataset": ["orders", "traffic"],
            "fill_start": [H - 49 * HOUR] * 2,
            "fill_end": [H - HOUR, H],
            "clock": [H - HOUR, H],
        },
        schema=schema,
    )
    lost = failed_hours(failures, good)
    assert lost.get_column("hour").to_list() == [H - HOUR, H]
    # no run known before it: the failed run's own hour
    assert failed_hours(failures, good.clear()).get_column("hour").to_list() == [H]
    # traffic loaded later fills nothing of orders; orders loaded by a run at the same clock
    # (the failing run itself) neither; a later run, or a backfill, does
    for dataset, clock, filled in (
        ("traffic", H + 2 * HOUR, False),
        ("orders", H + HOUR, False),
        ("orders", H + 2 * HOUR, True),
        ("orders", None, True),
    ):
        fill = pl.DataFrame(
            {
                "dataset": [dataset],
                "fill_start": [H - 46 * HOUR],
                "fill_end": [H + 2 * HOUR],
                "clock": [clock],
            },
            schema=schema,
        )
        assert failed_hours(failures, pl.concat([good, fill])).is_empty() is filled


def test_empty_hours_are_hours_without_rows_where_there_usually_are_many() -> None:
    hours = [local_days_back(H, d, TZ) + b * HOUR for d in range(4, -1, -1) for b in (0, 1)]
    counts = pl.DataFrame(
        {
            "dataset": ["orders"] * 10 + ["keywords"] * 10,
            "hour": hours * 2,
            "rows": [80] * 9 + [0] + [5] * 10,
        },
        schema_overrides={"hour": TS},
    )
    # today's 21:00 has keywords but no orders, where 80 are usual
    assert empty_hours(counts.filter(pl.col("rows") > 0), TZ).rows() == [("orders", H + HOUR)]


# -- promo_audit ---------------------------------------------------------------------------------


def audit_inputs() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    promotions = pl.DataFrame(
        {
            "promo_id": ["D1", "D2", "FR1"],
            "name": ["discount", "other discount", "full reduction"],
            "kind": ["discount", "discount", "full_reduction"],
            "starts_at": [AS_OF + 5 * HOUR, AS_OF + 2 * HOUR, AS_OF - HOUR],
            "ends_at": [AS_OF + 29 * HOUR, AS_OF + 20 * HOUR, AS_OF + 9 * HOUR],
            "threshold_amount": [None, None, 30.0],
            "discount_amount": [None, None, 50.0],
        },
        schema_overrides={"starts_at": TS, "ends_at": TS},
    )
    items = pl.DataFrame(
        {
            "promo_id": ["D1", "D1", "D1", "D2", "FR1"],
            "sku_id": ["A", "B", "C", "B", "A"],
            "promo_price": [79.0, 95.0, 60.0, 99.0, 120.0],
            "stock_commitment": [5, 50, 10, 80, 0],
        }
    )
    products = pl.DataFrame(
        {
            "sku_id": ["A", "B", "C"],
            "list_price": [120.0, 110.0, 100.0],
            "lowest_price_90d": [84.5, 90.0, None],
        }
    )
    stock = pl.DataFrame({"sku_id": ["A", "B", "C"], "available": [200, 120, 40]})
    return promotions, items, products, stock


def test_promo_audit_runs_the_registration_checklist_per_sku() -> None:
    promotions, items, products, stock = audit_inputs()
    found = promo_audit(promotions, items, products, stock, AS_OF, price_floor_ratio=0.65)
    assert found.select("promo_id", "sku_id", "check").rows() == [
        ("D1", "A", "price_90d_low"),
        # 120 available, 80 of them committed to D2 (whose time overlaps): 40 free for 50
        ("D1", "B", "committed_stock"),
        ("D1", "C", "price_floor"),  # 60 under 65% of 100
        ("D2", "B", "committed_stock"),  # 120 less D1's 50: 70 free for 80
        ("FR1", "A", "full_reduction"),
    ]
    detail = {
        (p, s, c): d for p, s, c, d in found.select("promo_id", "sku_id", "check", "detail").rows()
    }
    assert "40 free" in detail[("D1", "B", "committed_stock")]
    assert "discount 50.00 >= threshold 30.00" in detail[("FR1", "A", "full_reduction")]
    # the same function as `shoppulse promo check --promotion D1`
    registration = registration_checks(
        registration_of(items.filter(pl.col("promo_id") == "D1")),
        products,
        stock,
        promotions,
        items,
        promo_id="D1",
        price_floor_ratio=0.65,
    ).filter(pl.col("status") == "fail")
    audited = found.filter(pl.col("promo_id") == "D1").select("sku_id", "check", "detail").rows()
    # the command also names FR1's wrong threshold over A; the audit says it once, on FR1
    assert registration.select("sku_id", "check", "detail").sort("sku_id", "check").rows() == [
        ("A", "full_reduction", "FR1: discount 50.00 >= threshold 30.00"),
        *audited,
    ]
    # once a promotion runs, its stock is low_stock_promo's business; an ended one is quiet
    later = promo_audit(promotions, items, products, stock, AS_OF + 6 * HOUR)
    assert later.select("promo_id", "sku_id", "check").rows() == [
        ("D1", "A", "price_90d_low"),
        ("FR1", "A", "full_reduction"),
    ]
    assert promo_audit(promotions, items, products, stock, AS_OF + 10 * HOUR).select(
        "promo_id", "sku_id", "check"
    ).rows() == [("D1", "A", "price_90d_low")]


def test_promo_audit_alert_names_each_failing_sku_and_check() -> None:
    promotions, items, products, stock = audit_inputs()
    found = promo_audit(promotions, items, products, stock, AS_OF, price_floor_ratio=0.65)
    alerts = {
        a.labels["promo_id"]: a
        for a in (
            audit_rule._candidate(pid, rows, locale="en")
            for (pid,), rows in found.group_by("promo_id", maintain_order=True)
        )
    }
    assert set(alerts) == {"D1", "D2", "FR1"}
    d1 = alerts["D1"]
    assert d1.labels == {"promo_id": "D1"} and d1.severity == "warning"
    assert d1.annotations["failed_checks"] == "A: price_90d_low; B: committed_stock; C: price_floor"
    assert d1.annotations["summary"].startswith("Promotion D1: 3 SKU(s) fail the checklist")
    assert "B committed_stock: commits 50" in d1.annotations["root_cause"]
    assert alerts["FR1"].severity == "critical"
    assert alerts["FR1"].annotations["failed_checks"] == "A: full_reduction"
    zh = audit_rule._candidate("D1", found.filter(pl.col("promo_id") == "D1"), locale="zh-CN")
    assert "承诺库存" in zh.annotations["summary"]


# -- thresholds ----------------------------------------------------------------------------------


def test_threshold_rules_by_scope_promotion_state_and_volume() -> None:
    frames = {
        "shop": pl.DataFrame({"visitors": [1000], "bounce_rate": [0.72], "gmv": [5000.0]}),
        "source": pl.DataFrame(
            {"source": ["search", "ads"], "visitors": [800, 50], "bounce_rate": [0.6, 0.9]}
        ),
        "sku": pl.DataFrame({"sku_id": ["A"], "visitors": [10], "units": [0]}),
    }
    rules = [
        Threshold("high_bounce", "bounce_rate", ">", 0.7, "shop"),
        Threshold("source_bounce", "bounce_rate", ">=", 0.6, "source", min_visitors=100),
        Threshold("promo_gmv", "gmv", "<", 9000, "shop", during_promo=True),
        Threshold("no_sales", "units", "==", 0, "sku", for_hours=3, severity="info"),
    ]
    found = threshold_breaches(rules, frames, in_promo=False)
    assert found.select("name", "source", "sku_id", "value", "for_hours").rows() == [
        ("high_bounce", None, None, 0.72, 1),
        ("source_bounce", "search", None, 0.6, 1),
        ("no_sales", None, "A", 0.0, 3),
    ]
    with pytest.raises(ValueError, match="metric 'nope'"):
        threshold_breaches([Threshold("x", "nope", ">", 1)], frames, in_promo=False)


def _day_shaped(today_level: float, last: int) -> pl.DataFrame:
    """Six hours ending at H on each of 14 baseline days whose days run 12% hot or cold
    (a day-level factor shared by its hours), then the same hours today at `today_level`
    of normal, with `last` buyers at H."""
    rows = []
    for back in range(6):
        at = H - HOUR * back
        for d in range(1, 15):
            level = 1.12 if d % 2 else 0.88
            rows.append(
                {**now(4000, round(200 * level)), "hour": local_days_back(at, d, TZ), "gmv": 1.0}
            )
        buyers = last if back == 0 else round(200 * today_level)
        rows.append({**now(4000, buyers), "hour": at})
    return frame(rows)


def test_a_day_running_slow_since_morning_lowers_what_the_hour_is_held_to() -> None:
    # 140 buyers where 200 are usual: 30% down. On a day that ran at 80% all morning most
    # of that is the day, not the hour; on a normal day it is a drop.
    slow = conversion_scores(_day_shaped(0.8, 140), pl.Series([H], dtype=TS), TZ)
    normal = conversion_scores(_day_shaped(1.0, 140), pl.Series([H], dtype=TS), TZ)
    one = pl.col("window_hours") == 1
    assert slow.filter(one).item(0, "tau2") > 0
    assert 0.8 < slow.filter(one).item(0, "factor") < 0.95
    assert normal.filter(one).item(0, "factor") == pytest.approx(1.0, abs=0.02)
    assert conversion_drop(slow).is_empty()
    assert conversion_drop(normal).height == 1


def test_an_earlier_drop_the_same_day_does_not_lower_what_the_hour_is_held_to() -> None:
    # three hours before H ran at 40% (an incident of its own): not a slow day
    frame_ = _day_shaped(1.0, 140).with_columns(
        buyers=pl.when(pl.col("hour") == H - 3 * HOUR).then(80).otherwise(pl.col("buyers"))
    )
    scores = conversion_scores(frame_, pl.Series([H], dtype=TS), TZ)
    assert scores.filter(pl.col("window_hours") == 1).item(0, "factor") == pytest.approx(
        1.0, abs=0.02
    )
    assert conversion_drop(scores).height == 1


def _promo_days(now_state: str, now_buyers: int) -> pl.DataFrame:
    """14 baseline days in a promotion: discount days convert 8%, presale days 4%."""
    rows = [
        {**r, "in_promo": True, "promo_state": "discount" if d % 2 else "presale"}
        for d, r in enumerate(history(1000, 0), start=1)
    ]
    for r in rows:
        r["buyers"] = 80 if r["promo_state"] == "discount" else 40
    rows.append({**now(1000, now_buyers), "in_promo": True, "promo_state": now_state})
    return pl.DataFrame(rows, schema={**frame([]).schema, "promo_state": pl.String})


def test_the_baseline_is_the_same_kind_of_promotion() -> None:
    # presale hours are held to presale hours (4%), not to the discount days' 8%
    row = drops(_promo_days("presale", 12)).row(0, named=True)
    assert row["baseline_rate"] == pytest.approx(0.04) and row["baseline_hours"] == 7
    assert drops(_promo_days("presale", 38)).is_empty()  # 5% under its own kind: no drop


def _new_kind_day(first_hours: int, last: int, visitors: int = 1600) -> pl.DataFrame:
    """The hours up to H on 14 promotion days of 1000 visitors (discount 8%, presale 4%: 6%
    pooled), and today a flash sale, a kind they never ran, with `visitors` an hour (1600:
    it lifts traffic 60%), whose `first_hours` hours before H converted 8%, with `last`
    buyers at H."""
    rows = []
    for back in range(first_hours + 1):
        at = H - HOUR * back
        for d in range(1, 15):
            state = "discount" if d % 2 else "presale"
            buyers = 80 if state == "discount" else 40
            rows.append(
                {
                    **now(1000, buyers),
                    "hour": local_days_back(at, d, TZ),
                    "in_promo": True,
                    "promo_state": state,
                }
            )
        buyers = last if back == 0 else round(visitors * 0.08)
        rows.append(
            {**now(visitors, buyers), "hour": at, "in_promo": True, "promo_state": "flash_sale"}
        )
    return pl.DataFrame(rows, schema={**frame([]).schema, "promo_state": pl.String})


def test_a_new_kind_of_promotion_is_held_to_its_own_first_hours() -> None:
    # no flash sale in the baseline: every promotion hour stands in (6%), and the sale's own
    # four hours at 8% lift what the hour is held to (by k = T / (T + V / E^2) of the way);
    # it lifts traffic 60%, so its uplift keeps the wide prior
    scores = conversion_scores(_new_kind_day(4, 64), pl.Series([H], dtype=TS), TZ)
    one = scores.filter(pl.col("window_hours") == 1).row(0, named=True)
    assert one["baseline_rate"] == pytest.approx(0.06) and not one["same_state"]
    k = NEW_PROMO_VAR / (NEW_PROMO_VAR + 1 / 384)
    assert one["factor"] == pytest.approx(1 + k / 3, rel=0.01)
    # 64 buyers where the sale runs at ~125: found (the doubled minimum drop against 96 missed it)
    assert conversion_drop(scores).height == 1
    # the same 64 buyers in the sale's first hour: its uplift is not known yet, not an alert
    assert drops(_new_kind_day(0, 64)).is_empty()


def test_a_new_kind_that_does_not_lift_traffic_is_taken_to_lift_conversion_little() -> None:
    # the same sale without more visitors: the prior variance of its uplift narrows to
    # NEW_PROMO_FLOOR, so its four hours at 8% move what the hour is held to less of the way
    scores = conversion_scores(_new_kind_day(4, 40, visitors=1000), pl.Series([H], dtype=TS), TZ)
    one = scores.filter(pl.col("window_hours") == 1).row(0, named=True)
    k = NEW_PROMO_FLOOR / (NEW_PROMO_FLOOR + 1 / 240)
    assert one["factor"] == pytest.approx(1 + k / 3, rel=0.02)
    # without the traffic prior, the wide one
    wide = conversion_scores(
        _new_kind_day(4, 40, visitors=1000), pl.Series([H], dtype=TS), TZ, new_promo_floor=None
    )
    k = NEW_PROMO_VAR / (NEW_PROMO_VAR + 1 / 240)
    assert wide.filter(pl.col("window_hours") == 1).item(0, "factor") == pytest.approx(
        1 + k / 3, rel=0.01
    )


def test_the_day_level_earlier_hours_share_is_not_counted_as_their_noise() -> None:
    # five hours at 80% of usual before H: their shared day level (tau2 e^2 each) is what
    # they measure, so only the rest of their variance weighs against T in k (here the
    # baseline days differ only by day, so what is left is the binomial's)
    hourly = _day_shaped(0.8, 140)
    earlier = [H - HOUR * back for back in range(1, 6)]
    base = conversion_baseline(hourly, pl.Series(earlier, dtype=TS), TZ).join(
        hourly.select("hour", "visitors", "buyers"), on="hour"
    )
    n, p = pl.col("visitors"), pl.col("baseline_rate")
    e = n * p
    v = n * p * (1 - p) * (1 + (n - 1) * pl.col("rho")) + n**2 * pl.col("baseline_var")
    own = base.select(
        x=pl.col("buyers").sum(),
        e=e.sum(),
        # floored at the binomial's own spread
        v=pl.max_horizontal(v - pl.col("tau2") * e**2, e * (1 - p)).sum(),
        tau2=pl.col("tau2").first(),
    ).row(0, named=True)
    assert own["tau2"] > 0
    k = own["tau2"] / (own["tau2"] + own["v"] / own["e"] ** 2)
    scores = conversion_scores(hourly, pl.Series([H], dtype=TS), TZ)
    one = scores.filter(pl.col("window_hours") == 1).row(0, named=True)
    assert one["k"] == pytest.approx(k, rel=1e-6)
    assert one["factor"] == pytest.approx(1 + k * (own["x"] / own["e"] - 1), rel=1e-6)


def test_a_new_kind_of_promotion_is_held_to_every_day_of_its_hour() -> None:
    # 7 weekend-discount days converting 8% and 7 days without a promotion at 4%; today a
    # flash sale, a kind the baseline never ran: all 14 days stand in (6%), not only the
    # 7 that ran some other promotion (its own first hours say how it differs)
    rows = [
        {**r, "buyers": 80, "in_promo": True, "promo_state": "discount"}
        if d % 2
        else {**r, "buyers": 40, "promo_state": ""}
        for d, r in enumerate(history(1000, 0), start=1)
    ]
    rows.append({**now(1000, 60), "in_promo": True, "promo_state": "flash_sale"})
    hourly = pl.DataFrame(rows, schema={**frame([]).schema, "promo_state": pl.String})
    base = conversion_baseline(hourly, pl.Series([H], dtype=TS), TZ).row(0, named=True)
    assert base["baseline_hours"] == 14 and not base["same_state"]
    assert base["baseline_rate"] == pytest.approx(0.06)


def test_source_breakdown_leaves_out_sources_without_expected_buyers() -> None:
    from transforms.conversion import source_breakdown

    hour = t("2026-11-10T20:00:00+08:00")
    scores = pl.DataFrame(
        {
            "hour": [hour] * 3,
            "window_hours": [1] * 3,
            "scope": ["source"] * 3,
            "source": ["search", "ads", "direct"],
            # orders without a traffic source (taobao): no buyers expected per source
            "e_w": [50.0, float("nan"), 10.0],
            "x_w": [20.0, 0.0, 12.0],
        }
    )
    out = source_breakdown(scores, hour, 1)
    assert out.get_column("source").to_list() == ["search"]
    assert out.get_column("share").to_list() == [1.0]
