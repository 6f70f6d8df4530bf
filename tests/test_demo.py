"""The demo replays the hours where its scenario's incidents happen: the live ones (the last
hour, the backend's outage and the hour after it) as hourly flow runs, the rest as backfill
flow runs that deliver alerts hour by hour."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from flows.cli.demo import (
    DEMO_TOKEN,
    HISTORY_DAYS,
    demo_config,
    outage_hours,
    replay_end,
    replay_plan,
    run_demo,
)
from flows.settings import load_settings
from simulator import ShopSpec, Simulator
from transforms.rules import (
    conversion_drop,
    data_gap,
    low_stock_promo,
    negative_review,
    return_spike,
)

HOUR = timedelta(hours=1)


def test_the_demo_window_holds_the_scenarios_incidents_not_just_reviews() -> None:
    sim = Simulator("demo", 7)
    end = replay_end(sim)
    start = end - timedelta(hours=48)  # the demo's default replay
    shown = {i.alertname for i in sim.truth(reviews=False) if i.start < end and i.end > start}
    assert {conversion_drop.ALERTNAME, low_stock_promo.ALERTNAME, data_gap.ALERTNAME} <= shown


def test_the_demo_config_loads_and_retries_a_simulated_outage_once(tmp_path: Path) -> None:
    settings = load_settings(demo_config(tmp_path, "http://127.0.0.1:9", "Asia/Shanghai"))
    assert settings.source.max_attempts == 2
    assert settings.source.token.get_secret_value() == DEMO_TOKEN


def test_the_history_holds_every_day_the_rules_read_before_the_first_replayed_hour(
    tmp_path: Path,
) -> None:
    rules = load_settings(demo_config(tmp_path, "http://127.0.0.1:9", "Asia/Shanghai")).rules
    conversion: conversion_drop.ConversionDropSettings = rules.of(conversion_drop.ALERTNAME)
    returns: return_spike.ReturnSpikeSettings = rules.of(return_spike.ALERTNAME)
    # conversion_drop reads its baseline days before its window's day; return_spike its
    # baseline days before the last 24 h; low_stock_promo its days of demand
    days = (conversion.baseline_days + 1, returns.baseline_days + 1, low_stock_promo.DEMAND_DAYS)
    assert max(days) < HISTORY_DAYS


def test_the_plan_runs_the_last_hour_and_the_outage_live_and_backfills_between() -> None:
    sim = Simulator("demo", 7)
    start = replay_end(sim) - timedelta(hours=48)
    outages = outage_hours(sim)
    assert len(outages) == 1 and start < min(outages)
    plan = replay_plan(start, 48, outages)
    # every hour once, in order
    assert plan[0].start == start and plan[-1].end == start + 48 * HOUR
    assert all(a.end == b.start for a, b in itertools.pairwise(plan))
    outage = min(outages)
    live = [s.start for s in plan if s.live]
    assert live == [outage, outage + HOUR, start + 47 * HOUR]
    assert all(s.hours == 1 for s in plan if s.live)
    assert [s.hours for s in plan if not s.live] == [
        (outage - start) // HOUR,
        48 - 3 - (outage - start) // HOUR,
    ]


def test_one_hour_is_one_hourly_run_and_no_outage_means_one_backfill() -> None:
    start = replay_end(Simulator("demo", 7))
    assert [(s.hours, s.live) for s in replay_plan(start, 1, set())] == [(1, True)]
    assert [(s.hours, s.live) for s in replay_plan(start, 5, set())] == [(4, False), (1, True)]


# a small shop: the demo's scenario and clock, a tenth of its size
SMALL = ShopSpec(skus=12, visitors_per_day=4000)
# the last hours (a replay reaching back over the outage, 34 hours, takes over a minute: the
# plan tests above cover the outage's live runs)
REPLAYED = 6


@pytest.mark.usefixtures("prefect_harness")
def test_the_demo_shows_every_hour_its_alerts_and_ends_with_an_hourly_flow_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect.client.orchestration import get_client

    run_demo(tmp_path, hours=REPLAYED, spec=SMALL)
    out = capsys.readouterr().out

    sim = Simulator("demo", 7, SMALL)
    tz = sim.spec.tz
    start = replay_end(sim) - REPLAYED * HOUR
    lines = {line[:11]: line for line in out.splitlines() if " visitors " in line}
    for i in range(REPLAYED):
        assert f"{(start + i * HOUR).astimezone(tz):%m-%d %H:%M}" in lines
    assert f"replaying {REPLAYED - 1} hours from" in out and "in one backfill flow run" in out

    sent = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    fired = {
        (a["labels"]["alertname"], a["startsAt"][:13])
        for message in sent
        for a in message["message"]["alerts"]
    }
    # delivered by the backfill's replay, in its first hour
    first = start.astimezone(UTC).strftime("%Y-%m-%dT%H")
    assert {(negative_review.ALERTNAME, first), (low_stock_promo.ALERTNAME, first)} <= fired

    plan = replay_plan(start, REPLAYED, outage_hours(sim))
    config = str(tmp_path / "shoppulse.yaml")
    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs(limit=200) if r.parameters.get("config") == config]
        flows = {r.id: client.read_flow(r.flow_id).name for r in runs}
    runs.sort(key=lambda r: r.created)
    assert [flows[r.id] for r in runs] == ["hourly-etl" if s.live else "backfill" for s in plan]
    last = runs[-1]
    assert last.parameters["hour"] == (start + (REPLAYED - 1) * HOUR).astimezone(tz).isoformat()
    assert last.state is not None and last.state.is_completed()
