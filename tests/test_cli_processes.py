"""The `shoppulse` console script as cron or a CI step runs it: a real process, its output read to
the end, its exit status, and no process of its own left behind on success, error or Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.errors import EXIT_NOTHING_LOADED
from tests.backend import TOKEN, Backend, serve
from tests.factories import order, promotion, traffic

pytestmark = pytest.mark.slow

SHOPPULSE = str(Path(sys.executable).with_name("shoppulse"))
HOUR = "2026-11-11T10:00"


def tagged_processes(tag: str) -> list[str]:
    """Command lines of live processes whose environment carries `tag` (children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            if f"SHOPPULSE_TEST_TAG={tag}".encode() not in environ.split(b"\0"):
                continue
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":  # exited, not yet reaped
                continue
            found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found


def settle(tag: str, seconds: float = 20.0) -> list[str]:
    """The tagged processes still alive once the command's own stop has had time to finish."""
    deadline = time.monotonic() + seconds
    while (alive := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return alive


def write_config(folder: Path, url: str, token: str) -> Path:
    path = folder / "shoppulse.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "shop": {"name": "cli-shop", "timezone": "Asia/Shanghai"},
                "source": {"base_url": url, "token": token},
                "warehouse": {"path": "wh.duckdb"},
                # fires on the loaded hour, so the console channel has something to print
                "rules": {
                    "thresholds": [
                        {"name": "any_visitors", "metric": "visitors", "op": ">", "value": 0}
                    ]
                },
                "channels": [{"name": "console", "type": "console"}],
            }
        ),
        encoding="utf-8",
    )
    return path


def command_env(tmp_path: Path, tag: str, home: Path | None = None) -> dict[str, str]:
    """No API configured: the command starts Prefect's temporary server on the database in
    `home` (default: a fresh one, as on a new machine)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(
        PREFECT_HOME=str(home or tmp_path / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180",
        SHOPPULSE_TEST_TAG=tag,
    )
    return env


@pytest.fixture(scope="module")
def used_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Prefect home the module's commands share, as runs on one machine do: the first
    temporary server creates its database, later ones start on it without migrating."""
    return tmp_path_factory.mktemp("prefect-home")


def shoppulse(
    tmp_path: Path, *args: str, home: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the console script to the end of its output; return it and what it left alive."""
    tag = uuid.uuid4().hex
    done = subprocess.run(
        [SHOPPULSE, *args],
        capture_output=True,  # reads both streams to their end: a leftover holding them hangs
        text=True,
        env=command_env(tmp_path, tag, home),
        cwd=tmp_path,
        timeout=400,
        start_new_session=True,
    )
    return done, settle(tag)


@pytest.fixture
def backend() -> Iterator[Backend]:
    records = {"orders": [order()], "traffic": [traffic()], "promotions": [promotion()]}
    with serve(Backend(records=records)) as b:
        yield b


def test_a_successful_run_prints_only_json_on_stdout_and_leaves_nothing(
    backend: Backend, tmp_path: Path, used_home: Path
) -> None:
    config = write_config(tmp_path, backend.base_url, TOKEN)
    # a second shop: the shops run side by side, each in its own thread, on the one server
    second = config.with_name("second.yaml")
    second.write_text(
        config.read_text(encoding="utf-8")
        .replace("cli-shop", "cli-shop-2")
        .replace("wh.duckdb", "wh2.duckdb"),
        encoding="utf-8",
    )
    done, alive = shoppulse(
        tmp_path, "run", "-c", str(config), "-c", str(second), "--hour", HOUR, home=used_home
    )
    assert done.returncode == 0, done.stderr
    summaries = json.loads(done.stdout)  # `shoppulse run | jq` works
    assert [(s["shop"], s["status"]) for s in summaries] == [
        ("cli-shop", "ok"),
        ("cli-shop-2", "ok"),
    ]
    assert "any_visitors" in done.stderr  # the console channel's alert, on stderr
    assert alive == []
    # the flow run on the command's own temporary server sent no heartbeat (its end would
    # wait up to a second for Prefect's heartbeat thread); the server kept its events
    with closing(sqlite3.connect(used_home / "prefect.db")) as db:
        runs = db.execute("select count(*) from flow_run").fetchall()
        beats = db.execute(
            "select count(*) from events where event = 'prefect.flow-run.heartbeat'"
        ).fetchall()
    assert runs[0][0] >= 1 and beats == [(0,)]


def test_a_run_whose_exports_all_fail_exits_4_in_one_line_and_leaves_nothing(
    backend: Backend, tmp_path: Path, used_home: Path
) -> None:
    config = write_config(tmp_path, backend.base_url, "wrong-token")
    done, alive = shoppulse(tmp_path, "run", "-c", str(config), "--hour", HOUR, home=used_home)
    assert done.returncode == EXIT_NOTHING_LOADED
    assert json.loads(done.stdout)["status"] == "failed"
    # stderr: the console channel's data_gap alert, then the one-line reason; no Prefect
    # ERROR lines, no traceback, no complaint about logs sent to a stopped server
    assert "Data gap" in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("shoppulse: hourly run of cli-shop") and "HTTP 401" in last
    for noise in ("| ERROR", "Traceback", "Error logging to API"):
        assert noise not in done.stderr
    assert "wrong-token" not in done.stderr + done.stdout
    assert alive == []


def test_a_bad_argument_fails_before_prefect_starts(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", TOKEN)
    done, alive = shoppulse(tmp_path, "run", "-c", str(config), "--hour", "yesterday")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "shoppulse: not an ISO-8601 time: 'yesterday'"
        " (e.g. 2026-11-11T10:00 or 2026-11-11T10:00+08:00)"
    )
    # no temporary server was started: it would have written its log here
    assert not (tmp_path / "prefect" / "temporary-server.log").exists()
    assert alive == []


class _Stalling(Backend):
    """A backend whose first export request hangs until released, to interrupt a run."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reached = threading.Event()
        self.release = threading.Event()

    def window(self, dataset: str, since: str | None, until: str) -> list[dict[str, Any]]:
        self.reached.set()
        self.release.wait(120)
        return super().window(dataset, since, until)


def test_ctrl_c_during_a_run_stops_it_and_everything_it_started(
    tmp_path: Path, used_home: Path
) -> None:
    backend = _Stalling(records={"traffic": [traffic()]})
    with serve(backend):
        config = write_config(tmp_path, backend.base_url, TOKEN)
        tag = uuid.uuid4().hex
        proc = subprocess.Popen(
            [SHOPPULSE, "run", "-c", str(config), "--hour", HOUR],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=command_env(tmp_path, tag, used_home),
            cwd=tmp_path,
            start_new_session=True,
        )
        try:
            # the temporary server is up and the flow is extracting when the request arrives
            assert backend.reached.wait(300), "the run never reached the backend"
            assert any("uvicorn" in c for c in tagged_processes(tag))
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
            _, err = proc.communicate(timeout=120)
        finally:
            backend.release.set()
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["shoppulse: interrupted"]
    assert settle(tag) == []


def test_simulate_with_an_unknown_scenario_or_a_busy_port_fails_in_one_line(
    tmp_path: Path,
) -> None:
    done, _ = shoppulse(tmp_path, "simulate", "--scenario", "nope")
    assert done.returncode == 1
    assert done.stderr.startswith("shoppulse: unknown scenario 'nope' (known: ")
    assert len(done.stderr.strip().splitlines()) == 1
    with serve(Backend()) as busy:
        port = busy.base_url.rsplit(":", 1)[1]
        done, alive = shoppulse(tmp_path, "simulate", "--port", port)
    assert done.returncode == 1 and alive == []
    assert done.stderr.strip() == (
        f"shoppulse: cannot serve on 127.0.0.1:{port}: Address already in use"
        " (is another simulator running? pass --port)"
    )


def test_ctrl_c_on_serve_with_its_own_server_stops_in_order_in_one_line(
    tmp_path: Path, used_home: Path
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", TOKEN)
    tag = uuid.uuid4().hex
    proc = subprocess.Popen(
        [SHOPPULSE, "serve", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**command_env(tmp_path, tag, used_home), "PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # blocks until the server is up and deployments exist
        assert first.startswith("shoppulse: serving hourly-etl/cli-shop"), first
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    # the runner stops before the server it watches: no websocket traceback, no warning
    assert err.strip() == "shoppulse: stopped serving"
    assert settle(tag) == []


EARLY_SERVER = """
from prefect import flow, get_client
from prefect.blocks.system import Secret
from flows.local_server import _tied, start_temporary_server_early, stop_temporary_server

wait = start_temporary_server_early()
wait()  # up before any flow asked for it

@flow
def where() -> str:
    return str(get_client(sync_client=True).api_url)

# the server registered no block types at its start; a block saved registers its own
types = len(get_client(sync_client=True).read_block_types())
Secret(value="s3cret").save("early-token", overwrite=True)
print(_tied[0].api_url, where(), types, Secret.load("early-token").get())
stop_temporary_server()
"""


def test_a_server_started_early_is_the_one_the_flows_use_and_it_stops(tmp_path: Path) -> None:
    # a new Prefect home: `serve`'s full server, in a test before, registers the block types
    tag = uuid.uuid4().hex
    done = subprocess.run(
        [sys.executable, "-c", EARLY_SERVER],
        capture_output=True,
        text=True,
        env=command_env(tmp_path, tag),
        cwd=Path(__file__).resolve().parent.parent,
        timeout=300,
        start_new_session=True,
    )
    assert done.returncode == 0, done.stderr
    started, used, types, secret = done.stdout.split()
    assert used.rstrip("/") == started.rstrip("/")
    assert (types, secret) == ("0", "s3cret")
    assert settle(tag) == []
