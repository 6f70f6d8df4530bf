"""The demo replays the hours where its scenario's incidents happen."""

from __future__ import annotations

from datetime import timedelta

from flows.cli.demo import replay_end
from simulator import Simulator
from transforms.rules import conversion_drop, data_gap, low_stock_promo


def test_the_demo_window_holds_the_scenarios_incidents_not_just_reviews() -> None:
    sim = Simulator("demo", 7)
    end = replay_end(sim)
    start = end - timedelta(hours=48)  # the demo's default replay
    shown = {i.alertname for i in sim.truth() if i.start < end and i.end > start}
    assert {conversion_drop.ALERTNAME, low_stock_promo.ALERTNAME, data_gap.ALERTNAME} <= shown
