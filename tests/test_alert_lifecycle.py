"""Alert lifecycle against a real DuckDB file: fire, repeat, resolve, pending, silences,
routes, grouping, idempotent re-processing and the outbox written with the state."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts import (
    SilenceError,
    add_silence,
    alert_rows,
    list_silences,
    parse_duration,
    parse_matchers,
    process,
    remove_silence,
)
from alerts.errors import InvalidAlertError, RouteError
from alerts.routing import select_channels
from flows.settings import RouteSettings
from flows.warehouse import Warehouse
from tests.receivers import alert_settings, make_alert

H0 = datetime(2026, 11, 11, 2, tzinfo=UTC)
NOW = datetime(2026, 11, 11, 12, tzinfo=UTC)


def hour(n: int) -> datetime:
    return H0 + timedelta(hours=n)


def file_channels(tmp_path: Path, *names: str) -> list[dict[str, Any]]:
    return [{"name": n, "type": "file", "path": str(tmp_path / f"{n}.jsonl")} for n in names]


def snapshot(warehouse: Warehouse) -> tuple[list[Any], ...]:
    return (
        warehouse.rows("select * exclude (recorded_at) from ops.alerts order by all"),
        warehouse.rows("select * exclude (updated_at) from ops.alert_state order by all"),
        warehouse.rows("select delivery_id, channel, payload from ops.deliveries order by all"),
    )


def payloads(warehouse: Warehouse, channel: str | None = None) -> list[dict[str, Any]]:
    rows = warehouse.rows(
        "select payload from ops.deliveries where ? is null or channel = ? order by created_at,"
        " hour, rowid",  # rowid: insertion order among equal times
        [channel, channel],
    )
    return [json.loads(r[0]) for r in rows]


@pytest.fixture
def warehouse(tmp_path: Path) -> Any:
    with Warehouse(tmp_path / "shop.duckdb") as wh:
        yield wh


def test_fires_repeats_after_interval_and_resolves_once(tmp_path: Path, warehouse: Any) -> None:
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops"), repeat_interval_hours=4)
    notices = []
    for n in range(9):
        firing = [make_alert(hour(n))] if n < 6 else []
        result = process(warehouse, settings, hour(n), firing, now=NOW)
        notices.append([a["notice"] for p in payloads(warehouse) for a in p["alerts"]])
        assert len(result.deliveries) <= 1
    assert notices[-1] == ["firing", "repeat", "resolved"]
    # first message at hour 0, repeat at hour 4 (4 h later), resolved at hour 6
    hours = [p["hour"] for p in payloads(warehouse)]
    assert hours == ["2026-11-11T02:00:00Z", "2026-11-11T06:00:00Z", "2026-11-11T08:00:00Z"]
    resolved = payloads(warehouse)[-1]["alerts"][0]
    # startsAt: start of the first hour fired; endsAt: end of the last hour fired (hour 5)
    assert resolved["startsAt"] == "2026-11-11T02:00:00Z"
    assert resolved["endsAt"] == "2026-11-11T08:00:00Z"
    assert resolved["status"] == "resolved"
    statuses = warehouse.rows("select status, notify from ops.alerts order by hour")
    assert statuses == [("firing", "firing"), ("firing", "repeat"), ("resolved", "resolved")]


def test_reprocessing_the_same_hour_writes_and_queues_nothing(
    tmp_path: Path, warehouse: Any
) -> None:
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops"))
    for n in range(4):
        firing = [make_alert(hour(n))] if n < 2 else []
        process(warehouse, settings, hour(n), firing, now=NOW)
        before = snapshot(warehouse)
        again = process(warehouse, settings, hour(n), firing, now=NOW + timedelta(minutes=5))
        assert snapshot(warehouse) == before
        assert again.changes == 0 and again.deliveries == ()
    assert len(payloads(warehouse)) == 2  # firing, resolved


def test_an_older_hour_does_not_rewind_state(tmp_path: Path, warehouse: Any) -> None:
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops"))
    process(warehouse, settings, hour(0), [make_alert(hour(0))], now=NOW)
    process(warehouse, settings, hour(1), [make_alert(hour(1))], now=NOW)
    before = snapshot(warehouse)
    process(warehouse, settings, hour(0), [], now=NOW)  # a late re-evaluation of hour 0
    assert snapshot(warehouse) == before


def test_rule_not_evaluated_keeps_alert_open(tmp_path: Path, warehouse: Any) -> None:
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops"))
    process(warehouse, settings, hour(0), [make_alert(hour(0))], now=NOW)
    result = process(warehouse, settings, hour(1), [], {"promo_audit"}, now=NOW)
    assert result.resolved == () and len(result.firing) == 1
    result = process(warehouse, settings, hour(2), [], {"conversion_drop"}, now=NOW)
    assert len(result.resolved) == 1 and result.firing == ()


def test_for_hours_holds_the_alert_pending(tmp_path: Path, warehouse: Any) -> None:
    # a rule's candidate carries its pending period (a threshold rule's `for_hours`)
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops"))

    def bounce(n: int) -> Any:
        return dataclasses.replace(make_alert(hour(n), "high_bounce"), for_hours=3)

    assert process(warehouse, settings, hour(0), [bounce(0)], now=NOW).pending
    process(warehouse, settings, hour(1), [bounce(1)], now=NOW)
    process(warehouse, settings, hour(2), [], now=NOW)  # cleared before firing: no message
    assert payloads(warehouse) == []
    assert warehouse.rows("select status from ops.alert_state") == [("inactive",)]
    for n in (3, 4, 5):
        result = process(warehouse, settings, hour(n), [bounce(n)], now=NOW)
    assert result.firing and result.deliveries
    [message] = payloads(warehouse)
    assert message["alerts"][0]["startsAt"] == "2026-11-11T05:00:00Z"  # first hour raised


def test_escalation_notifies_before_repeat_interval(tmp_path: Path, warehouse: Any) -> None:
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops"))
    process(warehouse, settings, hour(0), [make_alert(hour(0), "low_stock_promo", sku_id="A")])
    process(
        warehouse,
        settings,
        hour(1),
        [make_alert(hour(1), "low_stock_promo", "critical", sku_id="A")],
    )
    assert [p["alerts"][0]["notice"] for p in payloads(warehouse)] == ["firing", "escalated"]


def test_data_gap_inhibits_business_drops_for_the_hour(tmp_path: Path, warehouse: Any) -> None:
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops"))
    process(warehouse, settings, hour(0), [make_alert(hour(0))], now=NOW)
    # the gap alert names what it holds back, as the data_gap rule's candidate does
    gap = dataclasses.replace(
        make_alert(hour(1), "data_gap", "critical", dataset="orders"),
        inhibits=frozenset({"conversion_drop", "cancel_spike"}),
    )
    drop = make_alert(hour(1), "conversion_drop", source="ads")
    result = process(warehouse, settings, hour(1), [gap, drop], now=NOW)
    names = {
        a["labels"]["alertname"]
        for p in payloads(warehouse)
        if p["hour"].startswith("2026-11-11T03")
        for a in p["alerts"]
    }
    assert names == {"data_gap"}
    assert result.resolved == ()  # the open drop of hour 0 is neither resolved nor repeated


def test_silence_records_but_does_not_send(tmp_path: Path, warehouse: Any) -> None:
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops"))
    silence = add_silence(
        warehouse, {"source": "search"}, NOW + timedelta(hours=6), "known", "ana", now=NOW
    )
    result = process(warehouse, settings, hour(0), [make_alert(hour(0))], now=NOW)
    assert result.silenced and result.deliveries == ()
    assert warehouse.rows("select status, silenced, notify from ops.alerts") == [
        ("firing", True, None)
    ]
    rows = alert_rows(warehouse)
    assert rows[0]["silenced"] is True and rows[0]["status"] == "firing"
    # other scopes are not silenced
    both = [make_alert(hour(1)), make_alert(hour(1), source="ads")]
    other = process(warehouse, settings, hour(1), both, now=NOW)
    [message] = [p for p in payloads(warehouse) if p["delivery_id"] in other.deliveries]
    assert [a["labels"]["source"] for a in message["alerts"]] == ["ads"]
    remove_silence(warehouse, silence, now=NOW + timedelta(hours=1))
    later = process(
        warehouse,
        settings,
        hour(2),
        [make_alert(hour(2)), make_alert(hour(2), source="ads")],
        now=NOW + timedelta(hours=1),
    )
    # never told about search: it is sent now that the silence is gone
    [message] = [p for p in payloads(warehouse) if p["delivery_id"] in later.deliveries]
    assert [a["labels"]["source"] for a in message["alerts"]] == ["search"]
    assert message["alerts"][0]["startsAt"] == "2026-11-11T02:00:00Z"


def test_silence_functions(warehouse: Any) -> None:
    until = NOW + parse_duration("6h")
    matchers = parse_matchers(["alertname=conversion_drop", "source = search"])
    assert matchers == {"alertname": "conversion_drop", "source": "search"}
    silence = add_silence(warehouse, matchers, until, "campaign", "ops@shop", now=NOW)
    [row] = list_silences(warehouse, now=NOW)
    assert row["silence_id"] == silence and row["ends_at"] == until and row["active"]
    assert list_silences(warehouse, now=until) == []
    remove_silence(warehouse, silence, now=NOW)
    assert list_silences(warehouse, now=NOW) == []
    assert list_silences(warehouse, include_expired=True, now=NOW)[0]["active"] is False
    with pytest.raises(SilenceError, match="already removed"):
        remove_silence(warehouse, silence)
    with pytest.raises(SilenceError, match="no silence"):
        remove_silence(warehouse, "nope")
    with pytest.raises(SilenceError, match="matcher"):
        add_silence(warehouse, {}, until, "x", "y", now=NOW)
    with pytest.raises(SilenceError, match="future"):
        add_silence(warehouse, {"a": "b"}, NOW - timedelta(hours=1), "x", "y", now=NOW)
    with pytest.raises(SilenceError):
        parse_matchers(["nolabel"])
    with pytest.raises(SilenceError):
        parse_duration("six hours")


def test_routes_exact_regex_continue_and_default(tmp_path: Path, warehouse: Any) -> None:
    routes = [
        {"match": {"severity": "critical"}, "channels": ["ding"], "continue": True},
        {"match_re": {"source": "ads|live.*"}, "channels": ["slack"]},
        {"match": {"alertname": "conversion_drop"}, "channels": ["mail"]},
    ]
    channels = file_channels(tmp_path, "ding", "slack", "mail", "hook")
    settings = alert_settings(tmp_path, channels, routes)
    firing = [
        make_alert(hour(0), "conversion_drop", "critical", source="search"),  # ding, mail
        make_alert(hour(0), "conversion_drop", "critical", source="ads"),  # ding, slack
        make_alert(hour(0), "cancel_spike", "warning", source="live_stream"),  # slack
        make_alert(hour(0), "cancel_spike", "warning", source="adsx"),  # no route: all
    ]
    process(warehouse, settings, hour(0), firing, now=NOW)
    got = {
        p["receiver"]: sorted(
            f"{a['labels']['alertname']}/{a['labels']['source']}" for a in p["alerts"]
        )
        for p in payloads(warehouse)
    }
    assert got == {
        "ding": ["cancel_spike/adsx", "conversion_drop/ads", "conversion_drop/search"],
        "slack": ["cancel_spike/adsx", "cancel_spike/live_stream", "conversion_drop/ads"],
        "mail": ["cancel_spike/adsx", "conversion_drop/search"],
        "hook": ["cancel_spike/adsx"],
    }


def test_route_with_bad_regex_names_the_key() -> None:
    route = RouteSettings.model_validate({"match_re": {"source": "("}, "channels": ["a"]})
    with pytest.raises(RouteError, match=r"routes\.0\.match_re\.source"):
        select_channels({"source": "x"}, [route], ["a"])


def test_one_message_per_channel_grouped_by_alertname_by_impact(
    tmp_path: Path, warehouse: Any
) -> None:
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops", "team"))
    firing = [
        make_alert(hour(0), "conversion_drop", impact=50, source="search"),
        make_alert(hour(0), "low_stock_promo", impact=900, sku_id="A"),
        make_alert(hour(0), "conversion_drop", impact=700, source="ads"),
        make_alert(hour(0), "low_stock_promo", impact=10, sku_id="B"),
        make_alert(hour(0), "promo_audit", impact=0, promo_id="P1"),
    ]
    result = process(warehouse, settings, hour(0), firing, now=NOW)
    assert len(result.deliveries) == 2
    message = payloads(warehouse, "ops")[0]
    order = [(a["labels"]["alertname"], a["impact"]) for a in message["alerts"]]
    assert order == [
        ("low_stock_promo", 900),
        ("low_stock_promo", 10),
        ("conversion_drop", 700),
        ("conversion_drop", 50),
        ("promo_audit", 0),
    ]


def test_record_mode_queues_nothing_and_continues_like_live(tmp_path: Path, warehouse: Any) -> None:
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops"), repeat_interval_hours=4)
    for n in range(3):
        result = process(warehouse, settings, hour(n), [make_alert(hour(n))], mode="record")
        assert result.deliveries == ()
    assert payloads(warehouse) == []
    assert warehouse.rows("select notify, mode from ops.alerts") == [("firing", "record")]
    # live takes over: the backfill's (recorded) notice counts for repeat_interval
    assert process(warehouse, settings, hour(3), [make_alert(hour(3))]).deliveries == ()
    assert process(warehouse, settings, hour(4), [make_alert(hour(4))]).deliveries


def test_outbox_is_written_in_the_same_transaction_as_the_state(
    tmp_path: Path, warehouse: Any
) -> None:
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops"))
    # an outbox that refuses the row: the state change must roll back with it
    warehouse.execute("drop table ops.deliveries")
    warehouse.execute("create table ops.deliveries (delivery_id integer, channel varchar)")
    with pytest.raises(Exception, match=r"(?i)deliveries|column|binder|conversion"):
        process(warehouse, settings, hour(0), [make_alert(hour(0))], now=NOW)
    assert warehouse.rows("select count(*) from ops.alerts") == [(0,)]
    assert warehouse.rows("select count(*) from ops.alert_state") == [(0,)]


def test_alerts_must_be_for_the_evaluated_hour(tmp_path: Path, warehouse: Any) -> None:
    settings = alert_settings(tmp_path)
    with pytest.raises(InvalidAlertError, match="not the evaluated hour"):
        process(warehouse, settings, hour(1), [make_alert(hour(0))])
    with pytest.raises(InvalidAlertError, match="timezone"):
        make_alert(datetime(2026, 11, 11, 2))


def test_fingerprint_is_stable_and_scope_only() -> None:
    a = make_alert(hour(0), sku_id="A", source="search")
    b = make_alert(hour(5), severity="critical", impact=1, source="search", sku_id="A")
    c = make_alert(hour(0), sku_id="B", source="search")
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert len(a.fingerprint) == 16


def test_late_update_retracting_an_hour_resolves_it(tmp_path: Path, warehouse: Any) -> None:
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops"))
    process(warehouse, settings, hour(0), [make_alert(hour(0))], now=NOW)
    # late orders show hour 0 was fine after all: re-evaluating it resolves the alert
    result = process(warehouse, settings, hour(0), [], now=NOW)
    assert result.resolved and result.deliveries
    resolved = payloads(warehouse)[-1]["alerts"][0]
    assert resolved["status"] == "resolved"
    assert resolved["startsAt"] == resolved["endsAt"] == "2026-11-11T02:00:00Z"


def test_alert_rows_lists_open_alerts_most_urgent_first(tmp_path: Path, warehouse: Any) -> None:
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops"))
    firing = [
        make_alert(hour(0), "cancel_spike", "warning", promo_id="P1"),
        make_alert(hour(0), "low_stock_promo", "critical", sku_id="A"),
    ]
    process(warehouse, settings, hour(0), firing, now=NOW)
    rows = alert_rows(warehouse)
    assert [(r["alertname"], r["status"], r["delivery"]) for r in rows] == [
        ("low_stock_promo", "firing", "pending"),
        ("cancel_spike", "firing", "pending"),
    ]
    assert rows[0]["labels"] == {"sku_id": "A"} and rows[0]["starts_at"] == hour(0)
    assert rows[0]["summary"].startswith("low_stock_promo")


def test_retracted_then_raised_again_in_one_hour_is_sent_again(
    tmp_path: Path, warehouse: Any
) -> None:
    settings = alert_settings(tmp_path, file_channels(tmp_path, "ops"))
    minute = timedelta(minutes=1)
    process(warehouse, settings, hour(0), [make_alert(hour(0))], now=NOW)
    process(warehouse, settings, hour(0), [], now=NOW + minute)
    result = process(warehouse, settings, hour(0), [make_alert(hour(0))], now=NOW + 2 * minute)
    assert result.deliveries
    assert [p["alerts"][0]["notice"] for p in payloads(warehouse)] == [
        "firing",
        "resolved",
        "firing",
    ]
