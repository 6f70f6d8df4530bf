"""The static dashboard: numbers from the marts, escaping, locales, and a real headless browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.dashboard import DashboardData, build_view, render_dashboard, write_dashboard
from flows.pipeline import run_hour
from flows.settings import Settings, parse_settings
from flows.warehouse import Warehouse
from sources import make_source
from tests.backend import TOKEN, Backend, serve
from tests.factories import order, promotion, traffic

UNTIL = datetime(2026, 11, 11, 3, tzinfo=UTC)  # 11:00 in Shanghai: the latest hour is 10:00
EVIL_TITLE = '<script>alert("title")</script> 扳手 8"'
EVIL_KEYWORD = "<script>alert('kw')</script>"
EVIL_SUMMARY = "<script>alert(1)</script> sells out in 1.5 h"
CHROMIUM = Path("/usr/bin/chromium")
TILES = ("gmv", "visitors", "conversion_rate", "aov", "bounce_rate", "cart_fav")
ZH_LABELS = ("支付金额", "访客数", "支付转化率", "客单价", "跳失率", "收藏加购")


def paid(order_id: str, buyer: str, at: str, amount: float, **over: Any) -> dict[str, Any]:
    return order(
        order_id,
        buyer_id=buyer,
        pay_amount=amount,
        created_at=at,
        paid_at=at,
        updated_at=at,
        **over,
    )


def keyword(hour: str, text: str, visitors: int, buyers: int, amount: float) -> dict[str, Any]:
    return {
        "hour": hour,
        "keyword": text,
        "impressions": visitors * 20,
        "clicks": visitors + 10,
        "visitors": visitors,
        "buyers": buyers,
        "pay_amount": amount,
    }


RECORDS: dict[str, list[dict[str, Any]]] = {
    "products": [
        {
            "sku_id": sku,
            "title": title,
            "category": "tools",
            "list_price": 119.0,
            "lowest_price_90d": 84.5,
            "safety_stock": 10,
            "updated_at": "2026-10-01T09:00:00+08:00",
        }
        for sku, title in (("SKU1", EVIL_TITLE), ("SKU2", "收纳盒 大号"))
    ],
    "promotions": [
        promotion(
            items=[
                {"sku_id": "SKU1", "promo_price": 89.9, "stock_commitment": 200},
                {"sku_id": "SKU2", "promo_price": 25.0, "stock_commitment": 100},
            ]
        )
    ],
    "orders": [
        paid("Y1", "U1", "2026-11-10T10:12:00+08:00", 100.0),
        paid("Y2", "U2", "2026-11-10T10:40:00+08:00", 150.0),
        paid("N1", "U3", "2026-11-11T09:20:00+08:00", 89.9, quantity=1),
        paid("T1", "U1", "2026-11-11T10:04:40+08:00", 179.8),
        paid("T2", "U2", "2026-11-11T10:30:00+08:00", 89.9, quantity=1),
        paid("T3", "U4", "2026-11-11T10:45:00+08:00", 50.0, sku_id="SKU2", source="direct"),
    ],
    "traffic": [
        traffic("2026-11-10T10:00:00+08:00", visitors=300, bounces=90),
        traffic("2026-11-11T09:00:00+08:00", visitors=200),
        traffic("2026-11-11T10:00:00+08:00"),  # search 400 visitors, 100 bounces, 40 + 20
        traffic("2026-11-11T10:00:00+08:00", source="direct", sku_id="SKU2", visitors=100),
    ],
    "inventory": [
        {
            "snapshot_at": "2026-11-11T10:00:00+08:00",
            "sku_id": sku,
            "warehouse": "WH1",
            "on_hand": on_hand,
            "reserved": 1,
        }
        for sku, on_hand in (("SKU1", 6), ("SKU2", 500))
    ],
    "keywords": [
        keyword("2026-11-11T10:00:00+08:00", EVIL_KEYWORD, 50, 3, 269.7),
        keyword("2026-11-11T10:00:00+08:00", "收纳盒", 80, 1, 50.0),
    ],
}


def settings_for(path: Path, locale: str = "en") -> Settings:
    return parse_settings(
        {
            "shop": {"name": "t-shop", "timezone": "Asia/Shanghai", "locale": locale},
            "source": {"base_url": "http://127.0.0.1:9", "token": TOKEN},
            "warehouse": {"path": str(path)},
        },
        {},
    )


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with yesterday's and today's 10:00 and an open alert."""
    path = tmp_path_factory.mktemp("dashboard") / "shop.duckdb"
    with serve(Backend(records=RECORDS)) as backend, Warehouse(path) as wh:
        settings = parse_settings(
            {
                "shop": {"name": "t-shop", "timezone": "Asia/Shanghai"},
                "source": {"base_url": backend.base_url, "token": TOKEN},
                "warehouse": {"path": str(path)},
            },
            {},
        )
        run_hour(wh, settings, make_source(settings.source), UNTIL)
        hour = datetime(2026, 11, 11, 2, tzinfo=UTC)
        wh.execute(
            """
            insert into ops.alert_state by name
            select 'fp1' as fingerprint, 'low_stock_promo' as alertname, 'firing' as status,
                'critical' as severity, $labels::json as labels, $notes::json as annotations,
                10.0 as impact, $hour as active_since, $hour as last_fired_hour,
                $hour as last_eval_hour, false as silenced, $hour as updated_at
            """,
            {
                "labels": json.dumps({"alertname": "low_stock_promo", "sku_id": "SKU1"}),
                "notes": json.dumps({"summary": EVIL_SUMMARY}),
                "hour": hour,
            },
        )
    return path


@pytest.fixture(scope="module")
def pages(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pages")
    return {
        locale: write_dashboard(settings_for(shop, locale), out / f"{locale}.html", hours=6)
        for locale in ("en", "zh-CN")
    }


def tile(html: str, key: str, part: str) -> str:
    match = re.search(
        rf'data-kpi="{key}">.*?<span class="{part}">(.*?)</span>', html, flags=re.DOTALL
    )
    assert match, f"no {part} in tile {key}"
    return match.group(1)


def test_tiles_show_the_latest_hour_of_kpi_hourly_against_yesterday(
    shop: Path, pages: dict[str, Path]
) -> None:
    html = pages["en"].read_text(encoding="utf-8")
    with Warehouse(shop, read_only=True) as wh:
        rows = wh.frame("select * from mart.kpi_hourly order by hour desc").to_dicts()
    latest, yesterday = rows[0], rows[-1]
    assert latest["hour"] == datetime(2026, 11, 11, 2, tzinfo=UTC)
    assert yesterday["hour"] == datetime(2026, 11, 10, 2, tzinfo=UTC)
    # the numbers the fixture's records give, worked out by hand
    assert (latest["gmv"], latest["visitors"], latest["buyers"]) == (pytest.approx(319.7), 500, 3)
    shown = {k: tile(html, k, "value") for k in TILES}
    assert shown == {
        "gmv": f"¥{latest['gmv']:,.2f}",
        "visitors": f"{latest['visitors']:,}",
        "conversion_rate": f"{latest['conversion_rate']:.2%}",
        "aov": f"¥{latest['aov']:,.2f}",
        "bounce_rate": f"{latest['bounce_rate']:.2%}",
        "cart_fav": f"{latest['add_to_cart'] + latest['favorites']:,}",
    }
    assert shown["gmv"] == "¥319.70" and shown["conversion_rate"] == "0.60%"
    assert tile(html, "gmv", "yesterday") == "¥250.00"
    assert tile(html, "gmv", "delta") == "+27.9%"
    assert tile(html, "conversion_rate", "delta") == "-0.07 pp"  # 3/500 against 2/300
    assert 'id="latest-hour">Latest hour: 2026-11-11 10:00–11:00' in html
    assert "Asia/Shanghai, UTC+08:00" in html


def test_tables_show_sources_stock_cover_alerts_and_keywords(pages: dict[str, Path]) -> None:
    html = pages["en"].read_text(encoding="utf-8")
    by_source = html.split('id="by-source"')[1].split("</section>")[0]
    assert by_source.index(">search<") < by_source.index(">direct<")  # most visitors first
    stock = html.split('id="stock-cover"')[1].split("</section>")[0]
    # SKU1: 5 available, 4 units paid in the 24 h before 11:00 -> 30 h; SKU2: 499 at 2 per day
    assert stock.index(">SKU1<") < stock.index(">SKU2<")
    assert "as of 2026-11-11 11:00" in stock
    alerts = html.split('id="alerts"')[1].split("</section>")[0]
    assert "Low stock during promotion" in alerts and "SKU: SKU1" in alerts
    keywords = html.split('id="keywords"')[1].split("</section>")[0]
    assert "2026-11-11" in keywords
    assert keywords.index("&lt;script&gt;") < keywords.index("收纳盒")  # more GMV first


def test_values_from_data_are_escaped(pages: dict[str, Path]) -> None:
    for page in pages.values():
        html = page.read_text(encoding="utf-8")
        assert "<script" not in html
        assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt; 扳手 8&#34;" in html
        assert "&lt;script&gt;alert(&#39;kw&#39;)&lt;/script&gt;" in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; sells out in 1.5 h" in html


def test_labels_follow_the_shop_locale(pages: dict[str, Path]) -> None:
    zh = pages["zh-CN"].read_text(encoding="utf-8")
    en = pages["en"].read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in zh and '<html lang="en">' in en
    for label in (*ZH_LABELS, "最新时段", "流量来源", "活动商品库存可售时长", "热门搜索关键词"):
        assert label in zh, label
        assert label not in en, label
    assert [tile(zh, k, "label") for k in TILES] == list(ZH_LABELS)
    assert "活动商品库存不足" in zh  # the alert's title in Chinese


def test_page_is_self_contained(pages: dict[str, Path]) -> None:
    html = pages["en"].read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=|url\(|@import|https?://""", html)
    # three hourly charts and the week chart
    assert html.count("<svg") == 4 and html.count('class="now"') == 3


def test_an_empty_warehouse_renders_a_page_that_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    Warehouse(path).close()
    for locale, words in (("en", "No KPI hours"), ("zh-CN", "还没有 KPI 数据")):
        html = write_dashboard(settings_for(path, locale), tmp_path / "d.html").read_text("utf-8")
        assert words in html and 'id="kpi-tiles"' not in html


def test_a_missing_hour_breaks_the_line(tmp_path: Path) -> None:
    hours = [datetime(2026, 11, 11, h, tzinfo=UTC) for h in (0, 1, 3, 4)]
    zero = {c: [0] * 4 for c in ("page_views", "bounces", "add_to_cart", "favorites")}
    kpis = pl.DataFrame(
        {
            "hour": hours,
            "visitors": [100, 110, 90, 120],
            "buyers": [2, 3, 1, 4],
            "gmv": [200.0, 300.0, 100.0, 400.0],
            "conversion_rate": [0.02, 0.03, None, 0.04],
            "aov": [100.0, 100.0, 100.0, 100.0],
            "bounce_rate": [0.1, 0.1, 0.1, 0.1],
            "in_promo": [False, True, True, False],
            **zero,
        }
    )
    empty = pl.DataFrame()
    data = DashboardData(kpis, empty, empty, None, empty, None, [])
    view = build_view(data, settings_for(tmp_path / "x.duckdb"), 5, UNTIL)
    charts = {c.key: c for c in view.charts}
    assert len(charts["gmv"].lines) == 2  # 00-01, then 03-04: 02:00 has no row
    assert [len(line.split()) for line in charts["gmv"].lines] == [2, 2]
    assert [len(line.split()) for line in charts["conversion_rate"].lines] == [2, 2]
    assert len(charts["gmv"].bands) == 2
    assert "<svg" in render_dashboard(view)


def test_a_repeated_fall_back_hour_compares_with_the_same_wall_clock_hour_a_day_earlier(
    tmp_path: Path,
) -> None:
    # New York, 2026-11-01: 01:00 happens twice; the second (EST, 06:00 UTC) is the latest hour
    rows = {
        datetime(2026, 10, 31, 5, tzinfo=UTC): 100.0,  # 01:00 EDT the day before: 25 h earlier
        datetime(2026, 11, 1, 5, tzinfo=UTC): 999.0,  # the first 01:00 (EDT)
        datetime(2026, 11, 1, 6, tzinfo=UTC): 150.0,  # the second 01:00 (EST)
    }
    kpis = pl.DataFrame(
        {
            "hour": list(rows),
            "gmv": list(rows.values()),
            "visitors": [100] * 3,
            "buyers": [1] * 3,
            "add_to_cart": [0] * 3,
            "favorites": [0] * 3,
            "conversion_rate": [0.01] * 3,
            "aov": list(rows.values()),
            "bounce_rate": [0.5] * 3,
            "in_promo": [False] * 3,
        }
    )
    empty = pl.DataFrame()
    settings = parse_settings(
        {
            "shop": {"name": "ny", "timezone": "America/New_York"},
            "source": {"base_url": "http://127.0.0.1:9"},
            "warehouse": {"path": str(tmp_path / "x.duckdb")},
        },
        {},
    )
    view = build_view(DashboardData(kpis, empty, empty, None, empty, None, []), settings, 3, UNTIL)
    gmv = next(t for t in view.tiles if t.key == "gmv")
    assert (gmv.value, gmv.yesterday, gmv.delta, gmv.tone) == (
        "¥150.00",
        "¥100.00",
        "+50.0%",
        "good",
    )
    assert view.hour_text == "2026-11-01 01:00–02:00"
    assert view.tz_text == "America/New_York, UTC-05:00"


def test_cli_writes_the_dashboard(shop: Path, tmp_path: Path) -> None:
    config = tmp_path / "shoppulse.yaml"
    config.write_text(
        f"shop: {{name: t-shop, timezone: Asia/Shanghai, locale: zh-CN}}\n"
        f"source: {{base_url: 'http://127.0.0.1:9', token: x}}\n"
        f"warehouse: {{path: '{shop}'}}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out" / "d.html"
    result = CliRunner().invoke(
        app, ["dashboard", "--config", str(config), "--out", str(out), "--hours", "24"]
    )
    assert result.exit_code == 0, result.output
    assert str(out) in result.output
    assert "支付金额" in out.read_text(encoding="utf-8")
    bad = CliRunner().invoke(app, ["dashboard", "--config", str(config), "--hours", "0"])
    assert bad.exit_code == 2 and "Invalid value for '--hours'" in bad.output


# --- a real browser --------------------------------------------------------------------------


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[list[str]]:
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        pytest.skip("chromium not installed: apt-get install chromium")
    profile = tmp_path / "profile"
    yield [
        str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ]


def test_headless_chromium_renders_the_tiles_and_a_screenshot(
    chromium: list[str], pages: dict[str, Path], tmp_path: Path
) -> None:
    url = pages["zh-CN"].resolve().as_uri()
    dom = subprocess.run(
        [*chromium, "--dump-dom", url], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert 'id="kpi-tiles"' in dom
    assert len(re.findall(r'class="tile tone-\w+" data-kpi="', dom)) == len(TILES)
    assert "¥319.70" in dom and "支付转化率" in dom
    shot = tmp_path / "d.png"
    subprocess.run(
        [*chromium, f"--screenshot={shot}", "--window-size=1280,1600", url],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_the_week_chart_draws_a_bar_per_day_with_data(shop: Path, pages: dict[str, Path]) -> None:
    html = pages["en"].read_text(encoding="utf-8")
    week = html.split('<section id="week">', 1)[1].split("</section>", 1)[0]
    with Warehouse(shop, read_only=True) as wh:
        days = wh.rows("select day, gmv from mart.kpi_daily order by day")
    bars = re.findall(r"<rect [^>]*><title>([^<]*)</title>", week)
    assert len(bars) == len(days) > 0
    last_day, _ = days[-1]
    assert bars[-1].startswith(last_day.strftime("%m-%d"))
    assert "GMV by day" in week and "<polyline" not in week  # no week before to draw
    assert "近 7 日" in pages["zh-CN"].read_text(encoding="utf-8")
