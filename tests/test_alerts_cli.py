"""`shoppulse alerts list|silence|unsilence` against a real warehouse file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import yaml
from typer.testing import CliRunner

from alerts import process
from flows.cli.alerts import alerts_app
from flows.warehouse import Warehouse
from tests.receivers import alert_settings, make_alert

HOUR = datetime(2026, 11, 11, 2, tzinfo=UTC)


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "shoppulse.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "shop": {"name": "demo-shop", "timezone": "Asia/Shanghai"},
                "source": {"base_url": "http://127.0.0.1:9"},
                "warehouse": {"path": "shop.duckdb"},
                "channels": [{"name": "ops", "type": "file", "path": "ops.jsonl"}],
            }
        )
    )
    return path


def test_silence_list_and_unsilence(tmp_path: Path) -> None:
    config = config_file(tmp_path)
    settings = alert_settings(tmp_path)
    with Warehouse(tmp_path / "shop.duckdb") as wh:
        process(wh, settings, HOUR, [make_alert(HOUR, source="search")], mode="record")
    runner = CliRunner()
    silenced = runner.invoke(
        alerts_app,
        [
            "silence",
            "--config",
            str(config),
            "--match",
            "source=search",
            "--for",
            "6h",
            "--reason",
            "planned search outage",
            "--by",
            "ops-lead",
        ],
    )
    assert silenced.exit_code == 0, silenced.output
    silence_id = silenced.stdout.split()[1]
    listed = runner.invoke(alerts_app, ["list", "--config", str(config), "--format", "json"])
    listing = json.loads(listed.stdout)
    assert [a["alertname"] for a in listing["alerts"]] == ["conversion_drop"]
    assert listing["silences"][0]["silence_id"] == silence_id
    assert listing["silences"][0]["matchers"] == {"source": "search"}
    table = runner.invoke(alerts_app, ["--config", str(config)])
    assert "planned search outage" in table.stdout and "conversion_drop" in table.stdout
    ended = runner.invoke(alerts_app, ["unsilence", silence_id, "--config", str(config)])
    assert ended.exit_code == 0, ended.output
    after = json.loads(
        runner.invoke(alerts_app, ["list", "--config", str(config), "--format", "json"]).stdout
    )
    assert after["silences"] == []
