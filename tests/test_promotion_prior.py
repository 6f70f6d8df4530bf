"""conversion_drop in a first promotion of a new kind: how far its own first hours move what
it is held to follows how much it lifts traffic, on a real DuckDB warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.warehouse import Warehouse
from tests.flash_sale_shop import HOUR, PLAIN, H, Shop, baseline, drops, load, settings

SHOP: tuple[tuple[str, str], ...] = ()


def scaled(visitors: float, buyers: float) -> dict[str, tuple[int, int]]:
    """The plain day's SKUs with their visitors and buyers scaled."""
    return {s: (round(v * visitors), round(b * buyers)) for s, (v, b) in PLAIN.items()}


def test_a_new_kind_that_does_not_lift_traffic_is_held_near_the_usual_level(
    tmp_path: Path,
) -> None:
    # a first flash sale from three hours before H, with the visitors of a plain day: its
    # three hours converted 72% of a plain day's rate, then H 53% (80 buyers). A promotion
    # that does not lift traffic is taken to lift (or lower) conversion little, so its
    # own three hours move what H is held to only part of the way (to about 80%, not 72%):
    # 33% down, an alert. Taken as its full level, H would be 26% down with the level's own
    # noise on top, not an alert
    data = Shop()
    baseline(data, today=())
    for back in (3, 2, 1):
        data.hour(H - back * HOUR, scaled(1.0, 0.72))
    data.hour(H, scaled(1.0, 0.53))
    config = settings(tmp_path / "shop.duckdb", off_promotion=False)
    with Warehouse(config.warehouse.path) as wh:
        load(wh, data, H - 3 * HOUR)
        found = drops(wh, config, H)
    assert SHOP in found
    alert = found[SHOP]
    assert alert.annotations["window_hours"] == "1"
    assert float(alert.annotations["drop"]) == pytest.approx(1 - 0.53 / 0.8, abs=0.02)
