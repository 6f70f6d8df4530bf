"""The service, review and shipping rules on small literal frames with hand-worked answers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from flows.pipeline import finish_run, load_window, plan_windows, start_run
from flows.rules_runner import evaluate_hour
from flows.settings import parse_settings
from flows.warehouse import Warehouse
from simulator import ShopSpec, Simulator
from sources.simulated import SimulatorSource
from transforms.rules import RULES, late_shipping, negative_review, return_spike, review_attack
from transforms.rules import slow_service as slow
from transforms.rules.base import Candidate

TS = pl.Datetime("us", "UTC")
END = datetime(2026, 11, 11, 13, tzinfo=UTC)  # 21:00 in Shanghai
S = timedelta(seconds=1)
H = timedelta(hours=1)


def chats(waits: list[float | None], *, started: datetime = END - 30 * 60 * S) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "started_at": [started] * len(waits),
            "first_response_at": [None if w is None else started + w * S for w in waits],
            "responder": [None if w is None else ("bot" if w < 5 else "A01") for w in waits],
        },
        schema={"started_at": TS, "first_response_at": TS, "responder": pl.String},
    )


def find_slow(frame: pl.DataFrame) -> dict[str, object] | None:
    return slow.slow_service(frame, END, target=0.8, min_chats=20, max_unanswered=10, alpha=0.01)


def test_the_registry_lists_the_new_rules_with_words_in_both_locales() -> None:
    names = {r.alertname for r in RULES}
    new = {"slow_service", "negative_review", "review_attack", "late_shipping", "return_spike"}
    assert new <= names
    for r in RULES:
        assert r.title["en"] and r.title["zh-CN"]


def test_slow_service_fires_when_the_30s_share_is_really_under_target() -> None:
    found = find_slow(chats([2] * 20 + [90] * 20))  # 50% within 30 s of 40
    assert found is not None
    assert (found["chats"], found["answered_30s"], found["missed"]) == (40, 20, 20)
    assert found["p_value"] < 0.001


def test_slow_service_stays_quiet_near_target_and_at_low_volume() -> None:
    assert find_slow(chats([2] * 30 + [20] * 4 + [60] * 6)) is None  # 85%
    assert find_slow(chats([2] * 25 + [60] * 9)) is None  # 74% of 34: not sure enough
    assert find_slow(chats([None] * 9 + [60] * 9)) is None  # too few chats


def test_slow_service_counts_unanswered_piling_up_and_skips_chats_not_yet_due() -> None:
    piled = find_slow(chats([2] * 30 + [None] * 10))
    assert piled is not None and piled["unanswered"] == 10
    fresh = chats([None] * 10, started=END - 10 * S)  # started 10 s before the hour's end
    assert find_slow(pl.concat([chats([2] * 30), fresh])) is None


def test_slow_service_prices_missed_chats_during_a_promotion() -> None:
    found = find_slow(chats([2] * 20 + [90] * 20))
    assert found is not None
    candidate: Candidate = slow._candidate(found, 20 * 0.25 * 100.0, True, locale="zh-CN")
    assert candidate.severity == "critical" and candidate.impact == 500.0
    assert "500" in candidate.annotations["description"]
    quiet = slow._candidate(found, 0.0, False)
    assert quiet.severity == "critical"  # 50% is more than 20 points under target
    assert "GMV" not in quiet.annotations["description"]


def reviews(rows: list[dict[str, object]]) -> pl.DataFrame:
    base = {
        "review_id": "R",
        "order_id": "T1",
        "sku_id": "SKU1",
        "buyer_id": "U1",
        "rating": 1,
        "text": "差",
        "ip_hash": "ip",
        "created_at": END - H,
        "replied_at": None,
        "buyer_paid": True,
    }
    return pl.DataFrame(
        [{**base, **r} for r in rows],
        schema_overrides={"created_at": TS, "replied_at": TS},
    )


@pytest.mark.parametrize(
    ("age", "severity"),
    [(1, "info"), (23.5, "info"), (24, "warning"), (41.9, "warning"), (42, "critical")],
)
def test_negative_review_escalates_at_24h_and_goes_critical_6h_before_48h(
    age: float, severity: str
) -> None:
    frame = reviews([{"review_id": "R1", "created_at": END - age * H}])
    found = negative_review.open_negative_reviews(frame, END)
    assert found.get_column("severity").to_list() == [severity]
    assert found.get_column("left_hours").to_list() == [pytest.approx(48 - age)]


def test_negative_review_resolves_when_replied_and_ignores_good_or_old_reviews() -> None:
    frame = reviews(
        [
            {"review_id": "R1", "replied_at": END - 0.5 * H},
            {"review_id": "R2", "rating": 3},
            {"review_id": "R3", "created_at": END - 49 * H},
            {"review_id": "R4", "rating": 2},
        ]
    )
    assert negative_review.open_negative_reviews(frame, END).get_column("review_id").to_list() == [
        "R4"
    ]


def find_attack(frame: pl.DataFrame) -> pl.DataFrame:
    return review_attack.review_attack(frame, END, window_hours=6, min_reviews=5, max_rating=2)


def test_review_attack_from_shared_ips_carries_the_evidence() -> None:
    burst = [{"review_id": f"A{i}", "buyer_id": f"X{i}", "ip_hash": f"ip{i % 2}"} for i in range(6)]
    honest = [{"review_id": "H1", "buyer_id": "U9", "ip_hash": "solo"}]
    found = find_attack(reviews(burst + honest))
    assert found.height == 1
    row = found.row(0, named=True)
    assert (row["sku_id"], row["reviews"], row["shared_ips"], row["no_order"]) == ("SKU1", 6, 2, 0)
    assert [e["review_id"] for e in row["evidence"]] == [f"A{i}" for i in range(6)]
    candidate = review_attack._candidate(row, UTC, 6)
    assert candidate.labels == {"sku_id": "SKU1"}
    assert candidate.annotations["root_cause"].count("shared IP/device") == 6


def test_review_attack_from_buyers_without_orders_and_not_from_honest_buyers() -> None:
    strangers = [
        {"review_id": f"N{i}", "buyer_id": f"X{i}", "ip_hash": f"n{i}", "buyer_paid": False}
        for i in range(5)
    ]
    assert find_attack(reviews(strangers)).get_column("no_order").to_list() == [5]
    honest = [{"review_id": f"H{i}", "buyer_id": f"U{i}", "ip_hash": f"h{i}"} for i in range(8)]
    assert find_attack(reviews(honest)).is_empty()
    old = [{**r, "created_at": END - 7 * H} for r in strangers]
    assert find_attack(reviews(old)).is_empty()


def shipments(promised: list[float], shipped: list[bool]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": [f"T{i}" for i in range(len(promised))],
            "promised_ship_by": [END + p * H for p in promised],
            "shipped": shipped,
            "amount": [100.0] * len(promised),
        },
        schema_overrides={"promised_ship_by": TS},
    )


def find_late(frame: pl.DataFrame) -> dict[str, object] | None:
    return late_shipping.late_shipping(frame, END, at_risk_hours=6, min_orders=10, min_share=0.05)


def test_late_shipping_counts_and_prices_late_orders() -> None:
    frame = shipments([-2] * 100 + [-30] * 3, [True] * 88 + [False] * 12 + [False] * 3)
    found = find_late(frame)
    assert found is not None
    assert (found["late"], found["due_24h"], found["late_24h"]) == (15, 100, 12)
    assert found["amount"] == 1500.0
    candidate = late_shipping._candidate(found, 6, True)
    assert candidate.severity == "critical" and candidate.impact == 1500.0
    assert late_shipping._candidate(found, 6, False).severity == "warning"


def test_late_shipping_warns_of_orders_at_risk_and_ignores_a_few_stragglers() -> None:
    risky = find_late(shipments([3] * 50, [True] * 35 + [False] * 15))
    assert risky is not None and (risky["late"], risky["at_risk"]) == (0, 15)
    assert find_late(shipments([-2] * 300, [True] * 295 + [False] * 5)) is None
    assert find_late(shipments([-2] * 100 + [8] * 40, [True] * 100 + [False] * 40)) is None


def returns(reasons: dict[str, tuple[int, int]], days: int = 14) -> pl.DataFrame:
    """Per reason: (returns spread over the last `days` baseline days, returns in the last
    24 h)."""
    rows = []
    for reason, (before, recent) in reasons.items():
        rows += [(END - 24 * H - (i % days + 0.5) * 24 * H, reason) for i in range(before)]
        rows += [(END - (i % 20 + 0.5) * H, reason) for i in range(recent)]
    return pl.DataFrame(
        rows, schema={"returned_at": TS, "reason": pl.String}, orient="row"
    ).with_columns(order_id=pl.lit("T"))


def test_return_spike_of_one_reason_against_its_baseline() -> None:
    frame = returns({"wrong_address": (14, 25), "size_fit": (140, 12)})
    found = return_spike.return_spike(
        frame, END, baseline_days=14, min_returns=10, min_ratio=3, alpha=0.001, min_baseline_days=7
    )
    assert found.get_column("reason").to_list() == ["wrong_address"]
    row = found.row(0, named=True)
    assert (row["returns"], row["baseline"], row["ratio"]) == (25, 1.0, 25.0)
    candidate = return_spike._candidate(row, 14)
    assert candidate.labels == {"reason": "wrong_address"} and candidate.severity == "critical"


def test_return_spike_needs_volume_and_a_real_rise() -> None:
    few = returns({"damaged": (0, 6)})
    assert return_spike.return_spike(
        few, END, baseline_days=14, min_returns=10, min_ratio=3, alpha=0.001, min_baseline_days=7
    ).is_empty()
    steady = returns({"size_fit": (280, 24)})
    assert return_spike.return_spike(
        steady, END, baseline_days=14, min_returns=10, min_ratio=3, alpha=0.001, min_baseline_days=7
    ).is_empty()


def test_return_spike_waits_for_enough_history_and_averages_over_the_days_it_has() -> None:
    def find(frame: pl.DataFrame) -> list[str]:
        return return_spike.return_spike(
            frame, END, baseline_days=14, min_returns=10, min_ratio=3, alpha=0.001,
            min_baseline_days=7,
        ).get_column("reason").to_list()  # fmt: skip

    # four days of returns at 3 a day, then 12: over 14 days that read as 0.9 a day
    assert find(returns({"size_fit": (12, 12)}, days=4)) == []
    # nine days at 3 a day, then 10: 3.3x of 3 a day is not sure enough (1.9 a day over 14
    # days would have been a 5x rise)
    assert find(returns({"size_fit": (27, 10)}, days=9)) == []
    # nine days of history are enough to judge a real rise
    assert find(returns({"size_fit": (27, 25)}, days=9)) == ["size_fit"]


def daily_returns(days: dict[str, list[int]], recent: dict[str, int]) -> pl.DataFrame:
    """Per reason: its returns on each baseline day (the most recent day first), and its
    returns in the last 24 h."""
    rows = []
    for reason, counts in days.items():
        for d, count in enumerate(counts):
            rows += [(END - 24 * H - (d + 0.5) * 24 * H, reason)] * count
    for reason, count in recent.items():
        rows += [(END - (i % 20 + 0.5) * H, reason) for i in range(count)]
    return pl.DataFrame(
        rows, schema={"returned_at": TS, "reason": pl.String}, orient="row"
    ).with_columns(order_id=pl.lit("T"))


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean), summed term by term over the upper tail."""
    return sum(math.exp(j * math.log(mean) - mean - math.lgamma(j + 1)) for j in range(k, k + 500))


def nb_tail(k: int, mean: float, phi: float) -> float:
    """P(X >= k) for a negative binomial of this mean and variance phi x mean (r successes of
    odds 1 / phi), summed term by term over the upper tail."""
    r, q = mean / (phi - 1), 1 / phi
    return sum(
        math.exp(
            math.lgamma(j + r) - math.lgamma(r) - math.lgamma(j + 1) + r * math.log(q)
            + j * math.log(1 - q)
        )
        for j in range(k, k + 2000)
    )  # fmt: skip


def find_spikes(frame: pl.DataFrame) -> pl.DataFrame:
    return return_spike.return_spike(
        frame, END, baseline_days=14, min_returns=10, min_ratio=3, alpha=0.001, min_baseline_days=7
    )


# 14 baseline days whose reason counts swing from day to day (variance well above the mean)
SWINGING = {
    "damaged": [1, 7] * 7,  # mean 4, squared deviations 14 x 9 = 126: 126 / 4 / 13 = 2.42
    "quality": [2, 10] * 7,  # mean 6, 14 x 16 = 224: 224 / 6 / 13 = 2.87
    "size_fit": [5, 13] * 7,  # mean 9, 224 / 9 / 13 = 1.91
}


def test_return_spike_allows_for_reasons_that_swing_from_day_to_day() -> None:
    phi = 126 / 4 / 13  # the median reason's variance over mean: damaged's
    # 14 damaged in a day, 3.5x its mean of 4, with a total (14 + 6 + 9) inside the days'
    # range (8 to 30): a Poisson tail of 7.6e-5 (under alpha / 3) but a negative binomial
    # tail with the baseline's spread of about 0.012
    assert poisson_tail(14, 4) < 0.001 / 3 and nb_tail(14, 4, phi) > 0.01
    swing = find_spikes(daily_returns(SWINGING, {"damaged": 14, "quality": 6, "size_fit": 9}))
    assert swing.is_empty()
    # 3x at 12 as well
    assert find_spikes(daily_returns(SWINGING, {"damaged": 12, "size_fit": 9})).is_empty()
    # a wrong-address batch of 77 against 19 in 14 days (1.36 a day) is still found
    batch = daily_returns(
        {**SWINGING, "wrong_address": [1] * 9 + [2] * 5},
        {"damaged": 5, "quality": 6, "size_fit": 9, "wrong_address": 77},
    )
    found = find_spikes(batch)
    assert found.get_column("reason").to_list() == ["wrong_address"]
    row = found.row(0, named=True)
    # wrong_address swings little: (9 x (5/14)^2 + 5 x (9/14)^2) / (19/14) / 13 = 0.18; the
    # median of the four reasons is halfway between size_fit's 1.91 and damaged's 2.42
    own = (9 * (5 / 14) ** 2 + 5 * (9 / 14) ** 2) / (19 / 14) / 13
    assert own == pytest.approx(0.182, abs=1e-3)
    four = (224 / 9 / 13 + phi) / 2
    assert row["dispersion"] == pytest.approx(four)
    assert (row["returns"], row["baseline"]) == (77, pytest.approx(19 / 14))
    assert row["p_value"] == pytest.approx(nb_tail(77, 19 / 14, four), rel=1e-6, abs=0)
    assert row["p_value"] < 0.001 / 4
    assert return_spike._candidate(row, 14).severity == "critical"


def test_return_spike_shares_alpha_among_the_reasons_it_tests() -> None:
    # steady baselines of 4 a day (no spread: plain Poisson); 13 in a day has a tail of
    # 2.7e-4: under alpha when it is the only reason, over alpha / 6 among six reasons
    assert 0.001 / 6 < poisson_tail(13, 4) < 0.001
    alone = find_spikes(daily_returns({"damaged": [4] * 14}, {"damaged": 13}))
    assert alone.get_column("reason").to_list() == ["damaged"]
    p_value = alone.row(0, named=True)["p_value"]
    assert p_value == pytest.approx(poisson_tail(13, 4), rel=1e-9, abs=0)
    six = ["damaged", "quality", "size_fit", "not_as_described", "wrong_address", "other"]
    among = daily_returns({r: [4] * 14 for r in six}, {"damaged": 13})
    assert find_spikes(among).is_empty()


def test_return_spike_with_its_defaults_over_two_weeks_of_the_seller_day_shop() -> None:
    """Every hour of the replayed fortnight: the wrong-address batch is the one alert."""
    sim = Simulator("seller_day", 0)
    [batch] = [i for i in sim.truth(reviews=False) if i.alertname == return_spike.ALERTNAME]
    latest: dict[str, tuple[str, str]] = {}
    for h in range(sim.clock.hours):
        for _, row in sim.service_rows("shipments", h):
            if row.get("returned_at"):
                latest[row["order_id"]] = (row["returned_at"], row["return_reason"])
    frame = pl.DataFrame(
        [(o, at, reason) for o, (at, reason) in latest.items()],
        schema={"order_id": pl.String, "returned_at": pl.String, "reason": pl.String},
        orient="row",
    ).with_columns(pl.col("returned_at").str.to_datetime(time_zone="UTC"))
    s = return_spike.ReturnSpikeSettings()
    firing: set[str] = set()
    episodes = []
    for h in range(14 * 24, sim.clock.hours):
        end = sim.clock.instant(h + 1).astimezone(UTC)
        found = return_spike.return_spike(
            frame.filter(pl.col("returned_at") < end),
            end,
            baseline_days=s.baseline_days,
            min_returns=s.min_returns,
            min_ratio=s.min_ratio,
            alpha=s.alpha,
            min_baseline_days=s.min_baseline_days,
        )
        now = set(found.get_column("reason").to_list())
        episodes += [(reason, end) for reason in sorted(now - firing)]
        firing = now
    [(reason, at)] = episodes
    assert reason == "wrong_address" and batch.start <= at <= batch.end


# -- the runner over a warehouse loaded from the seller_day scenario ---------------------------


def test_the_runner_raises_the_new_rules_from_a_loaded_warehouse(tmp_path: Path) -> None:
    sim = Simulator("seller_day", 0, ShopSpec(skus=20, visitors_per_day=10_000))
    (_, _, shortage, _), (attack, a, sku) = sim.plan.shortages[0], sim.plan.attacks[0]
    settings = parse_settings(
        {
            "shop": {"name": "t", "timezone": sim.spec.timezone},
            "source": {
                "base_url": "http://127.0.0.1:9",
                "lookback_hours": 24 * 20,
                "datasets": ["products", "promotions", "orders", "service_chats", "reviews"],
            },
            "warehouse": {"path": str(tmp_path / "wh.duckdb")},
        },
        {},
    )
    source = SimulatorSource(sim)
    with Warehouse(settings.warehouse.path) as wh:
        for until_h, evaluated_h in ((shortage + 1, shortage), (a + attack.hours, a + 1)):
            until = sim.clock.instant(until_h).astimezone(UTC)
            run = start_run(wh, until)
            for window in plan_windows(wh, settings, until):
                load_window(wh, source, run, window)
            finish_run(wh, run)
            alerts, evaluated = evaluate_hour(wh, settings, sim.clock.instant(evaluated_h))
            names = {x.alertname for x in alerts}
            if evaluated_h == shortage:
                slow_alert = next(x for x in alerts if x.alertname == slow.ALERTNAME)
                # the shortage hours are a flash sale: the missed chats are priced
                assert slow_alert.severity == "critical" and slow_alert.impact > 0
            else:
                attack_alert = next(x for x in alerts if x.alertname == review_attack.ALERTNAME)
                assert attack_alert.labels == {"sku_id": sim.catalog.sku_ids[sku]}
                evidence = attack_alert.annotations["root_cause"].splitlines()
                assert len(evidence) == int(attack_alert.annotations["evidence_count"]) >= 6
                assert negative_review.ALERTNAME in names
            assert {slow.ALERTNAME, review_attack.ALERTNAME} <= evaluated
