"""service_chats, reviews and shipments end to end: simulator rates, the export API, files,
quarantine, and the marts built from them."""

from __future__ import annotations

import csv
import json
import statistics
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows.dashboard import write_dashboard
from flows.pipeline import run_hour
from flows.settings import parse_settings
from flows.warehouse import Warehouse
from simulator import ShopSpec, Simulator
from simulator.server import SimulatorServer
from sources import make_source
from transforms.service import returns_daily, review_daily, service_hourly, shipping_daily

TOKEN = "sim-token"
TZ = "Asia/Shanghai"
SPEC = ShopSpec(days=4)
SERVICE = ("service_chats", "reviews", "shipments")


@pytest.fixture(scope="module")
def sim() -> Simulator:
    return Simulator("normal", 0, ShopSpec(days=21))


def records(sim: Simulator, dataset: str, a: int, b: int) -> list[dict[str, Any]]:
    return sim.records(dataset, sim.clock.instant(a), sim.clock.instant(b))


def latest(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """The latest version of each key, as the loader keeps it."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        out[row[key]] = row
    return out


def seconds(a: str, b: str) -> float:
    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


# -- the simulator's rates -----------------------------------------------------------------


def test_bot_answers_in_seconds_and_agents_slower_at_peak(sim: Simulator) -> None:
    chats = latest(records(sim, "service_chats", 24 * 7, 24 * 14), "chat_id").values()
    bot, peak, quiet = [], [], []
    for c in chats:
        if c["first_response_at"] is None:
            continue
        wait = seconds(c["started_at"], c["first_response_at"])
        hour = datetime.fromisoformat(c["started_at"]).hour
        if c["responder"] == "bot":
            bot.append(wait)
        elif 20 <= hour <= 22:
            peak.append(wait)
        elif 2 <= hour <= 6:
            quiet.append(wait)
    assert max(bot) <= 5
    assert statistics.median(peak) > 1.5 * statistics.median(quiet)
    answered_30s = sum(1 for c in chats if c["first_response_at"] and seconds(
        c["started_at"], c["first_response_at"]) <= 30)  # fmt: skip
    assert 0.85 < answered_30s / len(chats) < 0.99


def test_reviews_are_mostly_positive_and_shipping_mostly_on_time(sim: Simulator) -> None:
    reviews = latest(records(sim, "reviews", 24 * 3, 24 * 21), "review_id").values()
    negative = sum(1 for r in reviews if r["rating"] <= 2)
    assert 0.01 <= negative / len(reviews) <= 0.03
    assert all(r["ip_hash"] and len(r["ip_hash"]) == 16 for r in reviews)
    shipments = latest(records(sim, "shipments", 0, 24 * 14), "order_id").values()
    shipped = [s for s in shipments if s["shipped_at"]]
    on_time = sum(1 for s in shipped if s["shipped_at"] <= s["promised_ship_by"])
    assert 0.97 <= on_time / len(shipped) < 1.0
    returned = [s for s in shipments if s["returned_at"]]
    assert all(s["return_reason"] for s in returned) and 0.01 < len(returned) / len(shipped) < 0.05


def test_the_new_datasets_leave_the_old_ones_alone() -> None:
    # the seller_day scenario adds a flash sale, so compare a scenario without new effects
    a, b = Simulator("normal", 3, SPEC), Simulator("export_outage", 3, SPEC)
    assert records(a, "traffic", 30, 31) == records(b, "traffic", 30, 31)
    assert records(a, "orders", 30, 31) == records(b, "orders", 30, 31)


def test_seller_day_incidents_show_in_the_data() -> None:
    sim = Simulator("seller_day", 0)
    truth = {i.alertname: i for i in sim.truth(reviews=False)}
    slow = truth["slow_service"]
    h = sim.clock.hour_of(slow.start.timestamp())
    chats = latest(records(sim, "service_chats", h, h + 3), "chat_id").values()
    unanswered = sum(1 for c in chats if c["first_response_at"] is None)
    assert unanswered / len(chats) > 0.05
    attack = truth["review_attack"]
    h = sim.clock.hour_of(attack.start.timestamp())
    burst = [r for r in records(sim, "reviews", h, h + 2) if r["replied_at"] is None]
    hostile = [r for r in burst if r["sku_id"] == attack.labels["sku_id"] and r["rating"] == 1]
    assert len(hostile) >= 12 and len({r["ip_hash"] for r in hostile}) <= 3 + 2
    spike = truth["return_spike"]
    h = sim.clock.hour_of(spike.start.timestamp())
    back = [s for s in records(sim, "shipments", h, h + 20) if s["returned_at"]]
    assert sum(1 for s in back if s["return_reason"] == "wrong_address") >= 20


# -- through the export API and from files ---------------------------------------------------


def settings(tmp_path: Path, source: dict[str, Any]) -> Any:
    return parse_settings(
        {
            "shop": {"name": "t", "timezone": TZ},
            "source": {"lookback_hours": 96, **source},
            "warehouse": {"path": str(tmp_path / "wh.duckdb")},
        },
        {},
    )


def test_http_load_keeps_the_latest_version_and_builds_the_marts(tmp_path: Path) -> None:
    sim = Simulator("normal", 0, SPEC)
    until = sim.clock.instant(24 * 4).astimezone(UTC)
    with SimulatorServer(sim, token=TOKEN) as server:
        s = settings(tmp_path, {"base_url": server.base_url, "token": TOKEN, "page_size": 500})
        source = make_source(s.source)
        with Warehouse(s.warehouse.path) as wh:
            run_hour(wh, s, source, until)
            core = {
                ds: wh.frame(f"select * from core.{ds}")
                for ds in ("service_chats", "reviews", "shipments")
            }
            hourly = wh.frame("select * from mart.service_hourly order by hour")
            shipping = wh.frame("select * from mart.shipping_daily order by day")
            quarantined = wh.rows("select count(*) from ops.quarantine")[0][0]
        source.close()
    since = until - timedelta(hours=96)
    for dataset, key, field in (
        ("service_chats", "chat_id", "first_response_at"),
        ("reviews", "review_id", "replied_at"),
    ):
        versions = latest(sim.records(dataset, since, until), key)
        want = {k: v[field] is not None for k, v in versions.items()}
        got = dict(core[dataset].select(key, pl.col(field).is_not_null()).iter_rows())
        assert got == want and len(got) > 100
    shipments = latest(sim.records("shipments", since, until), "order_id")
    assert core["shipments"].height == len(shipments)
    assert quarantined == 0
    assert hourly.height >= 24 and hourly.get_column("chats").sum() == core["service_chats"].height
    assert shipping.get_column("due").sum() > 0
    # the dashboard's service panel shows the latest hours and days
    html = write_dashboard(s, tmp_path / "dash.html").read_text(encoding="utf-8")
    panel = html.split('<section id="service">')[1].split("</section>")[0]
    last = hourly.row(-1, named=True)
    assert f"<td>{last['chats']:,}</td>" in panel
    assert f"<td>{last['answered_30s_share']:.2%}</td>" in panel
    assert panel.count("<tr>") >= 12 + 3


def write_jsonl(folder: Path, rows: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True)
    (folder / "part-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_files_load_quarantines_bad_rows_with_a_reason(tmp_path: Path) -> None:
    root = tmp_path / "exports"
    t = "2026-11-11T10:{:02d}:00+08:00".format
    chat = {
        "chat_id": "C1", "buyer_id": "U1", "started_at": t(0), "first_response_at": t(1),
        "responder": "bot", "resolved": True, "sku_id": "SKU1", "updated_at": t(5),
    }  # fmt: skip
    write_jsonl(
        root / "service_chats",
        [
            chat,
            {**chat, "chat_id": "C2", "resolved": "maybe"},
            {**chat, "chat_id": "C3", "first_response_at": "2026-11-11T09:00:00+08:00"},
        ],
    )
    review = {
        "review_id": "R1", "order_id": "T1", "sku_id": "SKU1", "buyer_id": "U1", "rating": 1,
        "text": "差", "has_images": False, "ip_hash": "ab", "created_at": t(0),
        "replied_at": None, "updated_at": t(0),
    }  # fmt: skip
    write_jsonl(
        root / "reviews",
        [review, {**review, "review_id": "R2", "rating": 7}, {**review, "review_id": "R3",
         "created_at": "yesterday"}],
    )  # fmt: skip
    # shipments as a CSV export: every value is text, empty cells are missing
    (root / "shipments").mkdir(parents=True)
    with (root / "shipments" / "day.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["order_id", "promised_ship_by", "shipped_at", "returned_at",
                    "return_reason", "updated_at"])  # fmt: skip
        w.writerow(["T1", t(0), t(2), "", "", t(2)])
        w.writerow(["T2", t(0), "", t(3), "wrong_address", t(3)])
    s = settings(tmp_path, {"kind": "files", "path": str(root)})
    with Warehouse(s.warehouse.path) as wh:
        run_hour(wh, s, make_source(s.source), datetime(2026, 11, 11, 4, tzinfo=UTC))
        reasons = dict(wh.rows("select record ->> '$.chat_id', reason from ops.quarantine"
                               " where dataset = 'service_chats'"))  # fmt: skip
        review_reasons = dict(wh.rows("select record ->> '$.review_id', reason from"
                                      " ops.quarantine where dataset = 'reviews'"))  # fmt: skip
        ship_reasons = [r for (r,) in wh.rows("select reason from ops.quarantine"
                                              " where dataset = 'shipments'")]  # fmt: skip
        chats = wh.rows("select chat_id, resolved from core.service_chats")
        shipped = wh.rows("select order_id, shipped_at is not null from core.shipments")
    assert chats == [("C1", True)]
    assert reasons == {"C2": "bad resolved: maybe", "C3": "first_response_at before started_at"}
    assert review_reasons["R2"] == "rating outside 1-5: 7"
    assert review_reasons["R3"].startswith("bad created_at")
    assert ship_reasons == ["returned_at without shipped_at"]
    assert shipped == [("T1", True)]


# -- the marts on literal rows ----------------------------------------------------------------

TS = pl.Datetime("us", "UTC")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_service_hourly_splits_bot_and_agent_and_counts_the_30s_rule() -> None:
    start = at("2026-11-11T10:00:00+08:00")
    chats = pl.DataFrame(
        {
            "started_at": [start, start, start, start, start + timedelta(hours=1)],
            "first_response_at": [
                start + timedelta(seconds=2),
                start + timedelta(seconds=10),
                start + timedelta(seconds=50),
                None,
                start + timedelta(hours=1, seconds=4),
            ],
            "responder": ["bot", "A01", "A02", None, "bot"],
        },
        schema_overrides={"started_at": TS, "first_response_at": TS},
    )
    hours = pl.Series([start], dtype=TS)
    got = service_hourly(chats, hours, TZ).row(0, named=True)
    assert got["chats"] == 4 and got["answered"] == 3 and got["unanswered"] == 1
    assert got["answered_30s"] == 2 and got["answered_30s_share"] == 0.5
    assert (got["bot_chats"], got["agent_chats"]) == (1, 2)
    assert got["bot_median_seconds"] == 2.0 and got["agent_median_seconds"] == 30.0
    assert got["agent_p90_seconds"] == pytest.approx(46.0)


def test_review_daily_counts_ratings_negative_share_and_reply_time() -> None:
    day = at("2026-11-11T09:00:00+08:00")
    reviews = pl.DataFrame(
        {
            "created_at": [day, day, day, day + timedelta(days=1)],
            "replied_at": [day + timedelta(hours=2), None, day + timedelta(hours=6), None],
            "rating": [1, 5, 4, 2],
        },
        schema_overrides={"created_at": TS, "replied_at": TS},
    )
    got = review_daily(reviews, pl.Series([date(2026, 11, 11)]), TZ)
    want = pl.DataFrame(
        {
            "day": [date(2026, 11, 11)],
            "reviews": [3],
            "rating_1": [1],
            "rating_2": [0],
            "rating_3": [0],
            "rating_4": [1],
            "rating_5": [1],
            "negative": [1],
            "negative_share": [1 / 3],
            "avg_rating": [10 / 3],
            "replied": [2],
            "median_reply_hours": [4.0],
        }
    )
    assert_frame_equal(got, want, check_dtypes=False)


def test_shipping_daily_and_returns_by_reason() -> None:
    due = at("2026-11-11T12:00:00+08:00")
    shipments = pl.DataFrame(
        {
            "order_id": ["T1", "T2", "T3", "T4"],
            "promised_ship_by": [due, due, due, due + timedelta(days=1)],
            "shipped_at": [due - timedelta(hours=3), due + timedelta(hours=1), None, due],
            "returned_at": [None, None, None, due + timedelta(hours=2)],
            "return_reason": [None, None, None, "wrong_address"],
        },
        schema_overrides={"promised_ship_by": TS, "shipped_at": TS, "returned_at": TS},
    )
    days = pl.Series([date(2026, 11, 11), date(2026, 11, 12)])
    got = shipping_daily(shipments, days, TZ)
    assert got.select("due", "shipped_on_time", "shipped_late", "unshipped", "returns").rows() == [
        (3, 1, 1, 1, 1),
        (1, 1, 0, 0, 0),
    ]
    assert got.get_column("on_time_rate").to_list() == [1 / 3, 1.0]
    assert returns_daily(shipments, days, TZ).rows() == [(date(2026, 11, 11), "wrong_address", 1)]
