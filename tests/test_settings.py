"""Config parsing: typed settings, ${VAR} expansion and errors that name the key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.errors import ConfigError
from flows.settings import load_settings, masked, parse_settings

BASE = {
    "shop": {"name": "demo-shop", "timezone": "Asia/Shanghai"},
    "source": {"kind": "http", "base_url": "http://127.0.0.1:8765", "token": "${SHOP_API_TOKEN}"},
    "warehouse": {"path": "data/demo.duckdb"},
}


def with_(section: str, **values: object) -> dict[str, object]:
    data = json.loads(json.dumps(BASE))
    data[section].update(values)
    return data


def test_parses_defaults_and_expands_environment() -> None:
    settings = parse_settings(BASE, {"SHOP_API_TOKEN": "tok-123"})
    assert settings.source.token is not None
    assert settings.source.token.get_secret_value() == "tok-123"
    assert settings.source.page_size == 1000
    assert settings.source.lookback_hours == 48
    assert settings.rules.conversion_drop.min_drop == 0.25


@pytest.mark.parametrize(
    ("data", "env", "message"),
    [
        (BASE, {}, "source.token: environment variable SHOP_API_TOKEN is not set"),
        (with_("shop", timezon="UTC"), {"SHOP_API_TOKEN": "t"}, "shop.timezon: unknown key"),
        (with_("shop", timezone="Mars/Olympus"), {"SHOP_API_TOKEN": "t"}, "shop.timezone"),
        (with_("source", page_size=9000), {"SHOP_API_TOKEN": "t"}, "source.page_size"),
        (with_("source", base_url="ftp://x"), {"SHOP_API_TOKEN": "t"}, "source.base_url"),
        ({**BASE, "warehous": {}}, {"SHOP_API_TOKEN": "t"}, "warehous: unknown key"),
        (
            with_("warehouse", memory_limit="lots"),
            {"SHOP_API_TOKEN": "t"},
            "warehouse.memory_limit",
        ),
        (
            {
                **BASE,
                "rules": {
                    "thresholds": [{"name": "t", "metric": "convrate", "op": "<", "value": 1}]
                },
            },
            {"SHOP_API_TOKEN": "t"},
            "rules.thresholds.0.metric: unknown metric 'convrate'",
        ),
    ],
)
def test_errors_name_the_key(data: dict[str, object], env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_settings(data, env)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"channels": [{"name": "mail", "type": "email", "host": "127.0.0.1"}]},
            r"channels\.0 \(mail\): type email needs sender, to",
        ),
        (
            {"channels": [{"name": "log", "type": "file"}]},
            r"channels\.0 \(log\): type file needs path",
        ),
        (
            {"routes": [{"match_re": {"sku_id": "SKU(1"}, "channels": []}]},
            r"routes\.0\.match_re\.sku_id: not a regular expression",
        ),
    ],
)
def test_channels_and_routes_are_checked_when_the_config_is_read(
    section: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings({**BASE, **section}, {"SHOP_API_TOKEN": "t"})


def test_route_to_unknown_channel_is_named() -> None:
    data = {**BASE, "routes": [{"match": {"severity": "critical"}, "channels": ["ding"]}]}
    with pytest.raises(ConfigError, match=r"routes\.0\.channels names unknown channel 'ding'"):
        parse_settings(data, {"SHOP_API_TOKEN": "t"})


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("shop: {name: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_settings(bad)


def test_relative_paths_resolve_from_the_config_folder(tmp_path: Path) -> None:
    file = tmp_path / "shoppulse.yaml"
    file.write_text(json.dumps(BASE), encoding="utf-8")
    settings = load_settings(file, {"SHOP_API_TOKEN": "t"})
    assert settings.warehouse.path == tmp_path / "data" / "demo.duckdb"


def test_masked_hides_every_secret() -> None:
    data = {
        **BASE,
        "channels": [
            {
                "name": "ding",
                "type": "dingtalk",
                "url": "https://x/send?access_token=${DING}",
                "secret": "${DING_SECRET}",
            }
        ],
    }
    env = {"SHOP_API_TOKEN": "tok-123", "DING": "ding-abc", "DING_SECRET": "sec-xyz"}
    text = json.dumps(masked(parse_settings(data, env)))
    for secret in env.values():
        assert secret not in text


def test_check_config_command_masks_and_fails_with_one_line(tmp_path: Path) -> None:
    file = tmp_path / "shoppulse.yaml"
    file.write_text(json.dumps(BASE), encoding="utf-8")
    command = [sys.executable, "-m", "flows", "check-config", "--config", str(file)]
    ok = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={"SHOP_API_TOKEN": "tok-123", "PATH": ""},
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "tok-123" not in ok.stdout
    assert json.loads(ok.stdout)["shop"]["name"] == "demo-shop"
    missing = subprocess.run(command, capture_output=True, text=True, env={"PATH": ""}, timeout=60)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "shoppulse: source.token: environment variable SHOP_API_TOKEN is not set"
    ]


def test_read_only_commands_do_not_need_the_secrets_a_run_uses(tmp_path: Path) -> None:
    config = tmp_path / "shoppulse.yaml"
    config.write_text(
        "shop: {name: t}\n"
        "source: {base_url: 'http://127.0.0.1:9', token: '${NOT_SET_ANYWHERE}'}\n"
        "warehouse: {path: w.duckdb}\n"
        "channels: [{name: d, type: dingtalk, url: 'https://x/send?access_token=${NOT_SET_D}'}]\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    for command in (["kpis"], ["dashboard"], ["alerts", "list"]):
        result = runner.invoke(app, [*command, "-c", str(config)])
        # they get as far as the warehouse, which no run has written yet
        assert "does not exist yet" in str(result.exception), (command, result.output)
    checked = runner.invoke(app, ["check-config", "-c", str(config)])
    assert "environment variable NOT_SET_ANYWHERE is not set" in str(checked.exception)


def test_the_memory_limit_reaches_the_writing_connection(tmp_path: Path) -> None:
    from flows.warehouse.lock import writing

    data = with_("warehouse", path=str(tmp_path / "wh.duckdb"), memory_limit="512MB")
    with writing(parse_settings(data, {"SHOP_API_TOKEN": "t"}), "test") as wh:
        assert wh.rows("select current_setting('memory_limit')") == [("488.2 MiB",)]
