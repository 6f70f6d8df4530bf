"""Daily and weekly reviews over a simulated shop: the weakest link, short history, delivery
through the outbox once per channel, templates in both locales, the CLI and the flow."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from typer.testing import CliRunner

from alerts.digest import Digest
from alerts.renderer import FORMATS, Renderer
from flows.cli import app
from flows.digest import daily_figures, parse_week, run_digest, weekly_figures
from flows.pipeline import run_hour
from flows.settings import Settings, parse_settings
from flows.warehouse import Warehouse
from flows.warehouse.marts import refresh_rfm
from simulator import ShopSpec, Simulator
from sources.simulated import SimulatorSource
from tests.receivers import ok, serve

TZ = ZoneInfo("Asia/Shanghai")
# a Monday: the scenario's week-long drop in `recommend` starts on its third Monday, 2026-10-19
START = datetime(2026, 10, 5, tzinfo=TZ)
SPEC = ShopSpec(skus=12, visitors_per_day=20_000, start=START, days=21)
SLUMP_WEEK = date(2026, 10, 19)


def config(path: Path, tmp: Path, locale: str = "en", channels: list[Any] | None = None) -> dict:
    return {
        "shop": {"name": "slump-shop", "timezone": "Asia/Shanghai", "locale": locale},
        "source": {"base_url": "http://127.0.0.1:9", "token": "unused", "lookback_hours": 24 * 21},
        "warehouse": {"path": str(path), "lock_timeout_seconds": 5},
        "channels": channels
        if channels is not None
        else [{"name": "log", "type": "file", "path": str(tmp / "digests.jsonl")}],
    }


def settings_for(path: Path, tmp: Path, **kw: Any) -> Settings:
    return parse_settings(config(path, tmp, **kw))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three simulated weeks with RFM snapshots at the slump week's first and last midnight."""
    tmp = tmp_path_factory.mktemp("slump")
    path = tmp / "shop.duckdb"
    sim = Simulator("source_slump", 0, SPEC)
    settings = settings_for(path, tmp)
    with Warehouse(path) as wh:
        run_hour(wh, settings, SimulatorSource(sim), SPEC.end.astimezone(UTC))
        for day in (date(2026, 10, 19), date(2026, 10, 26)):
            refresh_rfm(wh, "Asia/Shanghai", datetime(day.year, day.month, day.day, tzinfo=TZ))
    return path


@pytest.fixture
def copy(shop: Path, tmp_path: Path) -> Path:
    target = tmp_path / "shop.duckdb"
    shutil.copy(shop, target)
    return target


@pytest.fixture(scope="module")
def weekly(shop: Path) -> dict[str, Any]:
    with Warehouse(shop, read_only=True) as wh:
        return weekly_figures(wh, settings_for(shop, shop.parent), SLUMP_WEEK)


@pytest.fixture(scope="module")
def daily(shop: Path) -> dict[str, Any]:
    with Warehouse(shop, read_only=True) as wh:
        return daily_figures(wh, settings_for(shop, shop.parent), date(2026, 10, 21))


# -- figures ----------------------------------------------------------------------------------


def test_weekly_review_names_the_source_whose_conversion_dropped(weekly: dict[str, Any]) -> None:
    assert weekly["week"] == "2026-W43" and weekly["history"]["notes"] == []
    assert weekly["weakest_link"]["source"] == "recommend"
    assert weekly["weakest_link"]["effect"] == "conversion_effect"
    parts = weekly["traffic_effect"] + weekly["conversion_effect"] + weekly["aov_effect"]
    assert parts == pytest.approx(weekly["gmv_change"], abs=1e-6)
    assert weekly["gmv_change"] == pytest.approx(
        weekly["this_week"]["gmv"] - weekly["last_week"]["gmv"]
    )
    sources = {r["source"]: r for r in weekly["by_source"]}
    for r in sources.values():
        assert r["traffic_effect"] + r["conversion_effect"] + r["aov_effect"] == pytest.approx(
            r["gmv_change"], abs=1e-6
        )
    # every paid line has a source, so the sources' changes make up the shop's
    assert sum(r["gmv_change"] for r in sources.values()) == pytest.approx(
        weekly["gmv_change"], abs=0.01
    )
    recommend = sources["recommend"]
    assert recommend["buyers_after"] < 0.75 * recommend["buyers_before"]


def test_weekly_review_reports_rfm_movement_and_promotions(weekly: dict[str, Any]) -> None:
    rfm = weekly["rfm"]
    assert rfm["as_of"].startswith("2026-10-26") and rfm["previous_as_of"].startswith("2026-10-19")
    assert rfm["high_value_to_at_risk"] >= 0 and rfm["newly_churned"] >= 0
    assert sum(rfm["segments"].values()) > sum(rfm["segments_before"].values())
    promos = {p["promo_id"]: p for p in weekly["promotions"]}
    assert promos, "the simulated week has promotions"
    for p in promos.values():
        assert p["gmv_last_week"] is not None
        assert p["uplift"] == pytest.approx(p["gmv"] - p["gmv_last_week"])
        assert p["cancelled_orders"] >= 0 and p["hours"] > 0


def test_daily_digest_compares_with_last_week_and_lists_movers(daily: dict[str, Any]) -> None:
    gmv = daily["metrics"]["gmv"]
    assert gmv["value"] > 0 and gmv["last_week"] > 0
    assert gmv["vs_last_week"] == pytest.approx(gmv["value"] / gmv["last_week"] - 1)
    # history starts 2026-10-05: two weeks back, not four, so no 4-week median
    assert gmv["median_4w"] is None
    assert [n["code"] for n in daily["history"]["notes"]] == ["no_median"]
    assert daily["movers"]["source"][0]["key"] == "recommend"
    assert daily["movers"]["source"][0]["gmv_change"] < 0
    assert daily["movers"]["sku"] and daily["movers"]["keyword"]
    assert len(daily["week_days"]) == 7 and daily["week_days"][-1]["day"] == "2026-10-21"
    assert set(daily["metrics"]) >= {
        "gmv", "visitors", "buyers", "conversion_rate", "aov", "bounce_rate",
        "add_to_cart", "favorites", "cancel_rate",
    }  # fmt: skip


def test_short_history_says_so_instead_of_comparing(shop: Path) -> None:
    settings = settings_for(shop, shop.parent)
    with Warehouse(shop, read_only=True) as wh:
        first_week = weekly_figures(wh, settings, date(2026, 10, 5))
        second_week = weekly_figures(wh, settings, date(2026, 10, 12))
        early_day = daily_figures(wh, settings, date(2026, 10, 8))
        before_data = daily_figures(wh, settings, date(2026, 9, 30))
    assert first_week["gmv_change"] is None and first_week["weakest_link"] is None
    assert first_week["last_week"] is None and first_week["this_week"]["gmv"] > 0
    assert {"week_short", "rfm_none"} <= {n["code"] for n in first_week["history"]["notes"]}
    # one RFM snapshot only (2026-10-19): segments now, but no movement
    assert "rfm_single" in {n["code"] for n in second_week["history"]["notes"]}
    assert second_week["rfm"]["segments"] and second_week["rfm"]["newly_churned"] is None
    assert second_week["gmv_change"] is not None
    assert early_day["metrics"]["gmv"]["last_week"] is None
    assert early_day["metrics"]["gmv"]["vs_last_week"] is None
    assert early_day["movers"] == {"source": [], "sku": [], "keyword": []}
    assert [n["code"] for n in early_day["history"]["notes"]] == ["no_last_week"]
    assert before_data["metrics"]["gmv"]["value"] is None
    assert [n["code"] for n in before_data["history"]["notes"]] == ["no_data"]


def test_a_day_not_fully_extracted_is_not_compared_with(copy: Path, tmp_path: Path) -> None:
    with Warehouse(copy) as wh:
        wh.execute("update mart.kpi_daily set complete = false where day = ?", [date(2026, 10, 14)])
    settings = settings_for(copy, tmp_path)
    with Warehouse(copy, read_only=True) as wh:
        day = daily_figures(wh, settings, date(2026, 10, 21))
        week = weekly_figures(wh, settings, SLUMP_WEEK)
    assert day["metrics"]["gmv"]["value"] > 0 and day["metrics"]["gmv"]["last_week"] is None
    assert day["movers"]["source"] == []
    assert {"code": "last_week_incomplete", "day": "2026-10-14"} in day["history"]["notes"]
    assert week["gmv_change"] is None and week["by_source"] == []
    assert {"code": "week_incomplete", "days": "2026-10-14"} in week["history"]["notes"]


def test_daily_digest_lists_the_days_alerts_and_todays_promotions_with_cover(
    copy: Path, tmp_path: Path
) -> None:
    from flows.warehouse.marts import refresh_stock_cover

    today = datetime(2026, 10, 22, tzinfo=TZ)
    fired = [
        # (fingerprint, alertname, status now, labels, hour it fired)
        ("fp-open", "conversion_drop", "firing", {"source": "recommend"}, 11),
        ("fp-done", "cancel_spike", "resolved", {}, 15),
    ]
    with Warehouse(copy) as wh:
        refresh_stock_cover(wh, today.astimezone(UTC))
        for fp, name, status, labels, hour in fired:
            at = datetime(2026, 10, 21, hour, tzinfo=TZ)
            common = {
                "fingerprint": fp,
                "alertname": name,
                "severity": "warning",
                "labels": json.dumps({"alertname": name, **labels}),
                "annotations": json.dumps({"summary": f"{name} summary"}),
                "hour": at,
            }
            wh.execute(
                "insert into ops.alerts by name select $fingerprint as fingerprint,"
                " $alertname as alertname, 'firing' as status, $severity as severity,"
                " $labels::json as labels, $annotations::json as annotations, $hour as hour,"
                " $hour as starts_at, false as silenced, 'deliver' as mode,"
                " $hour as recorded_at",
                common,
            )
            wh.execute(
                "insert into ops.alert_state by name select $fingerprint as fingerprint,"
                " $alertname as alertname, $status as status, $severity as severity,"
                " $labels::json as labels, $annotations::json as annotations,"
                " $hour as active_since, $hour as last_fired_hour, $hour as last_eval_hour,"
                " false as silenced, $hour as updated_at",
                {**common, "status": status},
            )
    with Warehouse(copy, read_only=True) as wh:
        figures = daily_figures(wh, settings_for(copy, tmp_path), date(2026, 10, 21))
    alerts = {a["alertname"]: a for a in figures["alerts"]}
    assert alerts["conversion_drop"]["resolved"] is False
    assert alerts["conversion_drop"]["labels"] == {"source": "recommend"}
    assert alerts["cancel_spike"]["resolved"] is True
    assert figures["stock_as_of"] == today.isoformat()
    promos = {p["promo_id"]: p for p in figures["promotions"]}
    assert "P-PRE-1" in promos  # the presale starting on 2026-10-22
    with Warehouse(copy, read_only=True) as wh:
        covered = wh.rows(
            "select sku_id from mart.stock_cover where as_of = ? and promo_id = 'P-PRE-1'",
            [today],
        )
    assert covered
    assert {s["sku_id"] for s in promos["P-PRE-1"]["skus"]} == {r[0] for r in covered}
    text = Renderer(settings_for(copy, tmp_path)).render(
        "text", Digest("d1", "log", "slump-shop", "daily", "2026-10-21", START, figures)
    )
    assert "still open" in text and "resolved" in text and "新品预售" in text


def test_iso_weeks_parse_and_bad_ones_fail_clearly(shop: Path) -> None:
    from flows.errors import ShoppulseError

    settings = settings_for(shop, shop.parent)
    assert parse_week("2026-W43", settings) == SLUMP_WEEK
    assert parse_week("2026W01", settings) == date(2025, 12, 29)
    with pytest.raises(ShoppulseError, match="ISO week"):
        parse_week("2026-43", settings)


# -- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_both_kinds_render_in_every_format_and_locale_escaped(
    fmt: str, locale: str, daily: dict[str, Any], weekly: dict[str, Any], shop: Path
) -> None:
    renderer = Renderer(settings_for(shop, shop.parent, locale=locale))
    hostile = json.loads(json.dumps(daily))
    hostile["movers"]["keyword"][0]["key"] = "*boom* <b>x</b> [link](http://x)\nfake line"
    for kind, figures in (("daily", hostile), ("weekly", weekly)):
        digest = Digest("d1", "log", "slump-shop", kind, figures["period"], START, figures)
        text = renderer.render(fmt, digest, locale=locale)
        assert figures["period"] in text
        title = "每日复盘" if kind == "daily" else "每周复盘"
        assert (title in text) == (locale == "zh-CN")
        if kind == "weekly" and fmt != "subject":
            assert "recommend" in text
        if kind == "daily" and fmt != "subject":
            # markup from data cannot format (html, chats) nor forge a line (text, chats)
            assert ("<b>x</b>" in text) == (fmt == "text")
            assert ("\nfake line" in text) == (fmt == "html")
            assert ("&lt;b&gt;x&lt;/b&gt;" in text) == (fmt in ("html", "slack"))
            assert ("*boom*" in text) == (fmt in ("html", "text"))
    if fmt == "html":
        assert "<svg" in text and "<rect" in text


def test_a_digest_too_long_for_wecom_is_shortened_not_refused(
    daily: dict[str, Any], shop: Path
) -> None:
    renderer = Renderer(settings_for(shop, shop.parent))
    digest = Digest("d1", "log", "slump-shop", "daily", daily["period"], START, daily)
    full = renderer.render("markdown", digest)
    text = renderer.fit("markdown", digest, limit=len(full.encode()) - 1)
    assert len(text.encode()) < len(full.encode())
    assert "SKU" in text


# -- delivery ---------------------------------------------------------------------------------


def test_a_rerun_for_the_same_day_sends_nothing_new(copy: Path, tmp_path: Path) -> None:
    with serve(ok) as hook:
        channels = [
            {"name": "log", "type": "file", "path": str(tmp_path / "digests.jsonl")},
            {"name": "ops", "type": "webhook", "url": hook.url()},
        ]
        settings = settings_for(copy, tmp_path, channels=channels)
        first = run_digest(settings, "daily", date(2026, 10, 21))
        again = run_digest(settings, "daily", date(2026, 10, 21))
        weekly = run_digest(settings, "weekly", SLUMP_WEEK)
    assert len(first["queued"]) == 2 and sorted(first["sent"]) == sorted(first["queued"])
    assert again["queued"] == [] and again["sent"] == []
    assert len(weekly["queued"]) == 2
    lines = (tmp_path / "digests.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    record = json.loads(lines[0])
    assert record["message"]["kind"] == "daily"
    assert record["message"]["figures"]["metrics"]["gmv"]["value"] > 0
    bodies = [r.json for r in hook.requests]
    assert [b["kind"] for b in bodies] == ["daily", "weekly"]
    assert bodies[1]["figures"]["weakest_link"]["source"] == "recommend"
    assert len({r.headers["idempotency-key"] for r in hook.requests}) == 2
    with Warehouse(copy, read_only=True) as wh:
        assert wh.rows("select state, count(*) from ops.deliveries group by state") == [("sent", 4)]


def test_a_failed_digest_stays_pending_and_the_rerun_retries_it(copy: Path, tmp_path: Path) -> None:
    settings = settings_for(
        copy, tmp_path, channels=[{"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/x"}]
    )
    failed = run_digest(settings, "daily", date(2026, 10, 21))
    assert failed["retrying"] == failed["queued"] and failed["sent"] == []
    with serve(ok) as hook:
        fixed = settings_for(
            copy, tmp_path, channels=[{"name": "ops", "type": "webhook", "url": hook.url()}]
        )
        retry = run_digest(fixed, "daily", date(2026, 10, 21))
    assert retry["queued"] == [] and retry["sent"] == failed["queued"]
    assert hook.requests[0].headers["idempotency-key"] == failed["queued"][0]


# -- command line and flow ----------------------------------------------------------------------


def test_cli_json_prints_the_figures_and_sends_nothing(copy: Path, tmp_path: Path) -> None:
    path = tmp_path / "shoppulse.yaml"
    path.write_text(yaml.safe_dump(config(copy, tmp_path)), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["digest", "--config", str(path), "--week", "2026-W43", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("gmv_change", "traffic_effect", "conversion_effect", "aov_effect", "by_source"):
        assert key in data
    assert {"source", "traffic_effect", "conversion_effect", "aov_effect"} <= set(
        data["by_source"][0]
    )
    assert not (tmp_path / "digests.jsonl").exists()
    with Warehouse(copy, read_only=True) as wh:
        assert wh.rows("select count(*) from ops.deliveries") == [(0,)]
    both = CliRunner().invoke(app, ["digest", "--config", str(path)])
    assert both.exit_code != 0


def test_flow_sends_once_and_publishes_a_markdown_artifact(
    prefect_harness: None, copy: Path, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.digest import daily_digest

    path = tmp_path / "shoppulse.yaml"
    path.write_text(yaml.safe_dump(config(copy, tmp_path)), encoding="utf-8")
    result = daily_digest(config=str(path), day="2026-10-21")
    assert len(result["sent"]) == 1
    again = daily_digest(config=str(path), day="2026-10-21")
    assert again["queued"] == [] and again["sent"] == []
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["slump-shop-daily-digest"]))
        )
    assert found and "2026-10-21" in str(max(found, key=lambda a: a.created).data)


def test_serve_schedules_both_reviews_at_nine_in_the_shop_timezone(tmp_path: Path) -> None:
    from flows.serve import build_deployments
    from flows.shops import Shop

    settings = settings_for(tmp_path / "shop.duckdb", tmp_path)
    built = build_deployments([Shop(tmp_path / "shoppulse.yaml", settings)])
    schedules = {d.flow_name: d.schedules[0].schedule for d in built}
    assert schedules["daily-digest"].cron == "0 9 * * *"
    assert schedules["weekly-review"].cron == "0 9 * * 1"
    assert {s.timezone for s in schedules.values()} == {"Asia/Shanghai"}
    assert {d.name for d in built} == {"slump-shop"}
