"""No secret leaks (issue 11, item 10): run the pipeline with every kind of secret configured,
make exports and deliveries fail so error paths run too, capture everything the run emits
(streams, every log record, Prefect artifacts, states and logs, every warehouse table, the
messages the channels received, the errors raised) and search it all for each secret."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from prefect import get_client

from flows.errors import RunIncompleteError
from flows.etl import hourly_etl
from flows.warehouse import Warehouse
from tests import receivers
from tests.backend import TOKEN, Backend, serve
from tests.factories import order, promotion, traffic

pytestmark = pytest.mark.usefixtures("prefect_harness")

HOUR = "2026-11-11T10:00"
DING_ACCESS = "ding-access-7f3a9c"
DING_SECRET = "SECding-signing-9b1c4e"
HOOK_TOKEN = "hook-query-token-55d2"
WRONG_TOKEN = "wrong-s3cret-token-0a"
SECRETS = (TOKEN, DING_ACCESS, DING_SECRET, HOOK_TOKEN, WRONG_TOKEN)


@pytest.fixture
def backend() -> Iterator[Backend]:
    records = {
        "orders": [order("T1")],
        "traffic": [traffic()],
        "promotions": [promotion()],
    }
    with serve(Backend(records=records)) as b:
        yield b


def write_config(folder: Path, url: str, ding: str, hook: str) -> Path:
    path = folder / "shoppulse.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "shop": {"name": "secret-shop", "timezone": "Asia/Shanghai"},
                "source": {"base_url": url, "token": "${LEAK_SHOP_TOKEN}", "max_attempts": 2},
                "warehouse": {"path": "wh.duckdb"},
                "channels": [
                    {
                        "name": "ding",
                        "type": "dingtalk",
                        "url": ding + "?access_token=${LEAK_DING_ACCESS}",
                        # signs with a secret the robot does not know: every send fails
                        "secret": "${LEAK_DING_SECRET}",
                    },
                    {"name": "hook", "type": "webhook", "url": hook + "?token=${LEAK_HOOK}"},
                    {"name": "log", "type": "file", "path": "alerts.jsonl"},
                ],
            }
        ),
        encoding="utf-8",
    )
    return path


def warehouse_text(path: Path) -> str:
    """Every row of every table of the warehouse, as text."""
    parts = []
    with Warehouse(path, read_only=True) as wh:
        tables = wh.rows(
            "select table_schema, table_name from information_schema.tables"
            " where table_type = 'BASE TABLE'"
        )
        for schema, table in tables:
            parts.append(repr(wh.rows(f'select * from "{schema}"."{table}"')))
    return "\n".join(parts)


def prefect_text() -> str:
    """Every artifact, flow run, task run (state messages, parameters) and stored log."""
    with get_client(sync_client=True) as client:
        items: list[Any] = [
            *client.read_artifacts(),
            *client.read_flow_runs(),
            *client.read_task_runs(),
            *client.read_logs(),
        ]
    return "\n".join(item.model_dump_json() for item in items)


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text or quote(s, safe="") in text]


def test_nothing_a_run_emits_contains_a_secret(
    backend: Backend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx's request lines included
    monkeypatch.setenv("LEAK_DING_ACCESS", DING_ACCESS)
    monkeypatch.setenv("LEAK_DING_SECRET", DING_SECRET)
    monkeypatch.setenv("LEAK_HOOK", HOOK_TOKEN)
    errors: list[str] = []
    with (
        receivers.serve(receivers.dingtalk("the robot's real secret")) as ding,
        receivers.serve(receivers.flaky(10, status=500)) as hook,
    ):
        config = write_config(tmp_path, backend.base_url, ding.url("/robot/send"), hook.url())
        # a run with the right token whose orders export keeps failing, then one refused
        monkeypatch.setenv("LEAK_SHOP_TOKEN", TOKEN)
        backend.faults += [("orders", 503, {}, "{}")] * 2
        for token in (TOKEN, WRONG_TOKEN):
            monkeypatch.setenv("LEAK_SHOP_TOKEN", token)
            with pytest.raises(RunIncompleteError) as caught:
                hourly_etl(config=str(config), hour=HOUR)
            errors += [str(caught.value), repr(caught.value), repr(caught.value.summary)]
    assert ding.requests and hook.requests  # both channels were tried, and failed
    requests = [*ding.requests, *hook.requests]
    received = "\n".join(r.body.decode("utf-8", "replace") + repr(r.headers) for r in requests)
    streams = capfd.readouterr()
    emitted = {
        "stdout": streams.out,
        "stderr": streams.err,
        "log records": "\n".join(
            f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
        ),
        "errors": "\n".join(errors),
        "warehouse": warehouse_text(tmp_path / "wh.duckdb"),
        "prefect": prefect_text(),
        "messages received": received,
        "file channel": (tmp_path / "alerts.jsonl").read_text(encoding="utf-8"),
    }
    assert "sign not match" in emitted["warehouse"]  # the failed delivery is recorded
    found = {where: leaks(text) for where, text in emitted.items() if leaks(text)}
    assert found == {}
