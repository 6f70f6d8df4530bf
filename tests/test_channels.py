"""Channels against real loopback receivers: body shapes, signatures, error codes, retries,
the idempotency key, SMTP via aiosmtpd, the JSON-lines file and the console."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts import alert_rows, delivery_rows, dispatch, flush, process
from flows.errors import ConfigError
from flows.warehouse import Warehouse
from tests import receivers
from tests.receivers import alert_settings, make_alert, serve, smtp_server

H0 = datetime(2026, 11, 11, 2, tzinfo=UTC)
SECRET = "SEC0123456789abcdef+/="  # characters that must survive URL encoding exactly once


@pytest.fixture
def warehouse(tmp_path: Path) -> Any:
    with Warehouse(tmp_path / "shop.duckdb") as wh:
        yield wh


def fire_and_resolve(warehouse: Warehouse, settings: Any, *alerts: Any) -> None:
    """Hour 0: the alerts fire; hour 1: they resolve."""
    process(warehouse, settings, H0, list(alerts))
    process(warehouse, settings, H0 + timedelta(hours=1), [])


def rich_alert(hour: datetime = H0, **labels: str) -> Any:
    from alerts.model import Alert

    return Alert(
        "conversion_drop",
        "critical",
        labels or {"source": "search"},
        {
            "summary": "Conversion down 38% in search",
            "description": "buyers/visitors well under the 14-day baseline",
            "value": "0.021",
            "baseline": "0.034",
            "root_cause": "search: 120 missing buyers\nSKU1007: 40 missing buyers",
            "action": "Check search ranking and the SKU1007 detail page",
        },
        hour,
        impact=5400.0,
    )


def test_webhook_posts_alertmanager_v4(tmp_path: Path, warehouse: Any) -> None:
    with serve(receivers.webhook) as hook:
        channels = [{"name": "ops", "type": "webhook", "url": hook.url(), "secret": "tok"}]
        settings = alert_settings(tmp_path, channels)
        process(warehouse, settings, H0, [rich_alert(), make_alert(H0, source="ads")])
        assert flush(warehouse, settings).sent
        process(warehouse, settings, H0 + timedelta(hours=1), [])
        assert flush(warehouse, settings).sent
    first, second = (r.json for r in hook.requests)
    assert receivers.webhook_problems(first) == [] and receivers.webhook_problems(second) == []
    assert first["status"] == "firing" and first["receiver"] == "ops"
    assert first["groupLabels"] == {"shop": "demo-shop"}
    assert first["commonLabels"] == {"alertname": "conversion_drop", "shop": "demo-shop"}
    assert first["commonAnnotations"] == {"value": "0.021", "baseline": "0.034"}
    alert = first["alerts"][0]
    assert alert["labels"] == {
        "alertname": "conversion_drop",
        "severity": "critical",
        "shop": "demo-shop",
        "source": "search",
    }
    assert alert["startsAt"] == "2026-11-11T02:00:00Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert second["status"] == "resolved"
    assert {a["endsAt"] for a in second["alerts"]} == {"2026-11-11T03:00:00Z"}
    ids = [r["delivery_id"] for r in delivery_rows(warehouse, ("sent",))]
    assert [r.headers["idempotency-key"] for r in hook.requests] == ids
    assert hook.requests[0].headers["authorization"] == "Bearer tok"


def test_dingtalk_signed_markdown(tmp_path: Path, warehouse: Any) -> None:
    with serve(receivers.dingtalk(SECRET)) as robot:
        url = robot.url("/robot/send") + "?access_token=TOKEN123"
        channels = [{"name": "ding", "type": "dingtalk", "url": url, "secret": SECRET}]
        settings = alert_settings(tmp_path, channels, shop={"locale": "zh-CN"})
        process(warehouse, settings, H0, [rich_alert()])
        result = flush(warehouse, settings)
    assert result.sent and not result.errors
    [request] = robot.requests
    assert request.query["access_token"] == ["TOKEN123"]
    body = request.json
    assert body["msgtype"] == "markdown"
    assert "支付转化率下降" in body["markdown"]["text"]
    assert "建议操作" in body["markdown"]["text"]
    assert request.headers["idempotency-key"] == result.sent[0]


def test_dingtalk_wrong_secret_is_a_failed_delivery_without_leaking(
    tmp_path: Path, warehouse: Any
) -> None:
    with serve(receivers.dingtalk("other-secret")) as robot:
        url = robot.url("/robot/send") + "?access_token=TOKEN123"
        channels = [{"name": "ding", "type": "dingtalk", "url": url, "secret": SECRET}]
        settings = alert_settings(tmp_path, channels, max_attempts=3)
        process(warehouse, settings, H0, [rich_alert()])
        result = flush(warehouse, settings)
    assert result.retrying and not result.sent
    [row] = delivery_rows(warehouse)
    assert row["state"] == "pending" and row["attempts"] == 1
    assert "errcode 310000" in row["last_error"]
    assert f"127.0.0.1:{robot.port}/robot/send" in row["last_error"]
    for secret in ("TOKEN123", SECRET, "access_token"):
        assert secret not in row["last_error"]


def test_feishu_signed_card(tmp_path: Path, warehouse: Any) -> None:
    with serve(receivers.feishu(SECRET)) as bot:
        channels = [{"name": "lark", "type": "feishu", "url": bot.url(), "secret": SECRET}]
        settings = alert_settings(tmp_path, channels)
        process(warehouse, settings, H0, [rich_alert()])
        assert flush(warehouse, settings).sent
    body = bot.requests[0].json
    assert body["card"]["header"]["title"]["content"].startswith("[FIRING:1] demo-shop")
    assert "Conversion down 38%" in body["card"]["elements"][0]["content"]


def test_feishu_nonzero_code_fails(tmp_path: Path, warehouse: Any) -> None:
    with serve(receivers.feishu("wrong")) as bot:
        channels = [{"name": "lark", "type": "feishu", "url": bot.url(), "secret": SECRET}]
        settings = alert_settings(tmp_path, channels)
        process(warehouse, settings, H0, [rich_alert()])
        result = flush(warehouse, settings)
    assert not result.sent and "code 19021" in next(iter(result.errors.values()))


def test_wecom_markdown_fits_4096_bytes_and_says_what_was_omitted(
    tmp_path: Path, warehouse: Any
) -> None:
    with serve(receivers.wecom) as robot:
        channels = [{"name": "wx", "type": "wecom", "url": robot.url() + "?key=K"}]
        settings = alert_settings(tmp_path, channels, shop={"locale": "zh-CN"})
        many = [
            make_alert(H0, "low_stock_promo", impact=float(n), sku_id=f"家用多功能活动扳手-{n:03d}")
            for n in range(80)
        ]
        process(warehouse, settings, H0, many)
        assert flush(warehouse, settings).sent
    content = robot.requests[0].json["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096
    assert "另有" in content and "条告警因消息长度限制未显示" in content
    # the highest-impact alerts are the ones kept
    assert "家用多功能活动扳手-079" in content and "家用多功能活动扳手-000" not in content


def test_slack_incoming_webhook(tmp_path: Path, warehouse: Any) -> None:
    with serve(receivers.slack) as hook:
        channels = [{"name": "slack", "type": "slack", "url": hook.url("/services/T0/B0/XYZ")}]
        settings = alert_settings(tmp_path, channels)
        title = "Wrench <!channel> *bold* & co"
        alert = rich_alert()
        alert.annotations["summary"] = title
        process(warehouse, settings, H0, [alert])
        assert flush(warehouse, settings).sent
    body = hook.requests[0].json
    assert "&lt;!channel&gt;" in body["text"] and "<!channel>" not in body["text"]
    assert body["blocks"][0]["type"] == "section"


def test_email_text_and_html_with_safe_subject(tmp_path: Path, warehouse: Any) -> None:
    with smtp_server() as (port, received):
        channels = [
            {
                "name": "mail",
                "type": "email",
                "host": "127.0.0.1",
                "port": port,
                "starttls": False,
                "sender": "alerts@shop.example",
                "to": ["ops@shop.example", "boss@shop.example"],
            }
        ]
        settings = alert_settings(tmp_path, channels)
        from alerts.model import Alert

        evil = Alert(
            "promo_audit",
            "warning",
            {"promo_id": "P1"},
            {
                "summary": "Promo <script>x</script>\r\nBcc: victim@evil.example",
                "description": "",
                "value": "",
                "baseline": "",
            },
            H0,
        )
        process(warehouse, settings, H0, [evil, rich_alert()])
        result = flush(warehouse, settings)
    assert result.sent, result.errors
    [(sender, rcpt, mime)] = received
    assert sender == "alerts@shop.example"
    assert sorted(rcpt) == ["boss@shop.example", "ops@shop.example"]
    assert "\n" not in mime["Subject"] and "\r" not in mime["Subject"]
    assert mime["Bcc"] is None
    assert mime["X-Idempotency-Key"] == result.sent[0]
    assert mime["Message-ID"] == f"<{result.sent[0]}@shop.example>"
    text = mime.get_body(("plain",)).get_content()
    html = mime.get_body(("html",)).get_content()
    assert "Conversion down 38% in search" in text
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_email_smtp_down_is_retried_then_dead(tmp_path: Path, warehouse: Any) -> None:
    channels = [
        {
            "name": "mail",
            "type": "email",
            "host": "127.0.0.1",
            "port": receivers.free_port(),
            "starttls": False,
            "sender": "a@b.c",
            "to": ["d@e.f"],
            "password": "hunter2",
            "username": "u",
        }
    ]
    settings = alert_settings(tmp_path, channels, max_attempts=2)
    process(warehouse, settings, H0, [rich_alert()])
    assert flush(warehouse, settings).retrying
    assert flush(warehouse, settings).dead
    [row] = alert_rows(warehouse)
    assert row["delivery"] == "dead" and row["attempts"] == 2
    assert "SMTP 127.0.0.1" in row["last_error"] and "hunter2" not in row["last_error"]
    assert flush(warehouse, settings).sent == ()


def test_fails_twice_then_succeeds_once_with_one_key(tmp_path: Path, warehouse: Any) -> None:
    with serve(receivers.flaky(2)) as hook:
        channels = [{"name": "ops", "type": "webhook", "url": hook.url()}]
        settings = alert_settings(tmp_path, channels)
        first = dispatch(warehouse, settings, H0, [rich_alert()])
        assert first.flushed is not None and first.flushed.retrying
        assert "HTTP 503" in next(iter(first.flushed.errors.values()))
        assert flush(warehouse, settings).retrying
        assert flush(warehouse, settings).sent
        assert flush(warehouse, settings).sent == ()
        # re-running the hour sends nothing new
        again = dispatch(warehouse, settings, H0, [rich_alert()])
        assert again.processed.deliveries == () and again.flushed == flush(warehouse, settings)
    keys = {r.headers["idempotency-key"] for r in hook.requests}
    assert len(hook.requests) == 3 and len(keys) == 1
    [row] = delivery_rows(warehouse, ("sent",))
    assert row["attempts"] == 3 and row["delivery_id"] in keys
    assert delivery_rows(warehouse, ("pending", "dead")) == []


def test_timeout_is_a_failed_attempt(tmp_path: Path, warehouse: Any) -> None:
    with serve(receivers.ok, delay=1.0) as hook:
        channels = [{"name": "ops", "type": "webhook", "url": hook.url(), "timeout_seconds": 0.2}]
        settings = alert_settings(tmp_path, channels)
        process(warehouse, settings, H0, [rich_alert()])
        result = flush(warehouse, settings)
    assert "timed out" in next(iter(result.errors.values()))


def test_record_mode_never_sends(tmp_path: Path, warehouse: Any) -> None:
    with serve(receivers.ok) as hook:
        channels = [{"name": "ops", "type": "webhook", "url": hook.url()}]
        settings = alert_settings(tmp_path, channels)
        result = dispatch(warehouse, settings, H0, [rich_alert()], mode="record")
        assert result.flushed is None
        assert flush(warehouse, settings).sent == ()
    assert hook.requests == []


def test_file_and_console_channels(
    tmp_path: Path, warehouse: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo" / "alerts.jsonl"
    channels = [
        {"name": "file", "type": "file", "path": str(out)},
        {"name": "console", "type": "console", "locale": "zh-CN"},
    ]
    settings = alert_settings(tmp_path, channels)
    fire_and_resolve(warehouse, settings, rich_alert())
    result = flush(warehouse, settings)
    assert len(result.sent) == 4
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["message"]["status"] for line in lines] == ["firing", "resolved"]
    assert lines[0]["subject"] == "[FIRING:1] demo-shop: Conversion drop"
    assert {line["delivery_id"] for line in lines} <= set(result.sent)
    printed = capsys.readouterr()
    # human text on stderr: stdout stays for machine-readable output (`shoppulse run | jq`)
    assert "【告警 1 条】demo-shop：支付转化率下降" in printed.err and "已恢复" in printed.err
    assert printed.out == ""


def test_a_channel_missing_its_url_fails_at_load_and_a_removed_one_at_delivery(
    tmp_path: Path, warehouse: Any
) -> None:
    with pytest.raises(ConfigError, match=r"channels\.0 \(hook\): type webhook needs url"):
        alert_settings(tmp_path, [{"name": "hook", "type": "webhook"}])
    hook = {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook"}
    process(warehouse, alert_settings(tmp_path, [hook]), H0, [rich_alert()])
    gone = alert_settings(tmp_path, [{"name": "other", "type": "console"}])
    result = flush(warehouse, gone)
    assert "no longer configured" in next(iter(result.errors.values()))


def test_backlog_is_paced_to_the_platform_rate_limit(tmp_path: Path, warehouse: Any) -> None:
    with serve(receivers.dingtalk(None)) as robot:
        channels = [
            {"name": "ding", "type": "dingtalk", "url": robot.url(), "min_interval_seconds": 0.3}
        ]
        settings = alert_settings(tmp_path, channels)
        fire_and_resolve(warehouse, settings, rich_alert())  # two messages queued
        assert len(flush(warehouse, settings).sent) == 2
    first, second = robot.requests
    assert second.at - first.at >= 0.29
