"""The demo replays the hours where its scenario's incidents happen."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flows.cli.demo import DEMO_TOKEN, demo_config, replay_end
from flows.settings import load_settings
from simulator import Simulator
from transforms.rules import conversion_drop, data_gap, low_stock_promo


def test_the_demo_window_holds_the_scenarios_incidents_not_just_reviews() -> None:
    sim = Simulator("demo", 7)
    end = replay_end(sim)
    start = end - timedelta(hours=48)  # the demo's default replay
    shown = {i.alertname for i in sim.truth() if i.start < end and i.end > start}
    assert {conversion_drop.ALERTNAME, low_stock_promo.ALERTNAME, data_gap.ALERTNAME} <= shown


def test_the_demo_config_loads_and_retries_a_simulated_outage_once(tmp_path: Path) -> None:
    settings = load_settings(demo_config(tmp_path, "http://127.0.0.1:9", "Asia/Shanghai"))
    assert settings.source.max_attempts == 2
    assert settings.source.token.get_secret_value() == DEMO_TOKEN
