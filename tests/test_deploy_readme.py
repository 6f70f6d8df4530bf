"""The README's deploy path, typed as a newcomer would: its two command blocks run line by line
against a real `prefect server start` on loopback and a process worker, with the simulator as
the shop. One hourly deployment run and one backfill, then their KPI rows and artifacts.

Three things stand in for the newcomer's machine: a temp folder holding shoppulse.yaml is the
folder the commands run in (the code runs from this checkout, where the deployments point),
`. .venv/bin/activate` puts this interpreter's bin folder first on PATH, and the README's port
4200 becomes a free one. The token is typed at the Secret block prompt (stdin) and is in no
process's environment, so the runs read it from the block. Every process started here is
stopped, its whole process group, however the test ends.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from simulator import ShopSpec, Simulator
from simulator.server import SimulatorServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
TOKEN = "readme-token"
SHANGHAI = "Asia/Shanghai"


def deploy_blocks() -> tuple[list[str], list[str]]:
    """The Deploy section's set-up block (the one with `shoppulse deploy`) and its run block."""
    section = README.split("## Deploy and scale", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    setup = next(b for b in blocks if "shoppulse deploy" in b)
    runs = next(b for b in blocks if "prefect deployment run" in b)
    return _lines(setup), _lines(runs)


def _lines(block: str) -> list[str]:
    # a comment starts at a `#` after whitespace, outside quotes (none of the lines quote one)
    return [re.split(r"\s+#\s", line, maxsplit=1)[0].strip() for line in block.splitlines()]


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Shell:
    """Runs README lines like an interactive shell: exports, background jobs, the rest waited."""

    def __init__(self, cwd: Path, port: int) -> None:
        self.cwd, self.port = cwd, port
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PREFECT_") and k not in ("SHOP_API_TOKEN", "PYTEST_CURRENT_TEST")
        }
        self.env.update(
            PWD=str(cwd),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            # `prefect server start` listens where the README's URL (4200 → port) points
            PREFECT_SERVER_API_PORT=str(port),
            # a worker polls every 10 s by default, and the scheduler would fill the database
            # with the cron deployments' future runs: neither changes what the commands do
            PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        )
        self.jobs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.log = cwd / "commands.log"

    def text(self, line: str) -> str:
        return line.replace("4200", str(self.port))

    def run(self, line: str, stdin: str = "", timeout: float = 240) -> str:
        line = self.text(line)
        if not line:
            return ""
        if line == ". .venv/bin/activate":
            self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env['PATH']}"
            return ""
        if line.startswith("export "):
            name, value = line.removeprefix("export ").split("=", 1)
            self.env[name] = os.path.expandvars(value.replace("$PWD", str(self.cwd)))
            return ""
        if line.endswith("&"):
            self._background(line.removesuffix("&").strip())
            return ""
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=self.cwd,
            env=self.env,
            input=stdin.encode(),
            capture_output=True,
            timeout=timeout,
            start_new_session=True,  # no terminal: getpass reads the prompt's answer from stdin
        )
        out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        with self.log.open("a", encoding="utf-8") as log:
            log.write(f"$ {line}\n{out}\n")
        assert done.returncode == 0, f"{line!r} exited {done.returncode}:\n{out[-3000:]}"
        return out

    def _background(self, command: str) -> None:
        name = re.sub(r"\W+", "-", command)[:40]
        with (self.cwd / f"{name}.log").open("ab") as log:
            job = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.jobs.append((command, job))
        if "server start" in command:
            self._wait_healthy(job)

    def _wait_healthy(self, job: subprocess.Popen[bytes]) -> None:
        url = f"http://127.0.0.1:{self.port}/api/health"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert job.poll() is None, "prefect server start exited"
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise AssertionError("prefect server did not answer in 180 s")

    def stop(self) -> None:
        """Stop every background job still ours, last started first (a second call is a no-op)."""
        for _, job in reversed(self.jobs):
            _stop_group(job)


def _stop_group(job: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGINT the job's process group, then SIGKILL what is left of it (flow-run processes).

    The leader is waited for without being reaped, so its pid, the group's id, cannot pass to
    another process before the group is killed; a job already reaped is left alone.
    """
    if job.returncode is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(job.pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, job.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            break
        time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=30)


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    shell = Shell(tmp_path, _free_port())
    try:
        yield shell
    finally:
        shell.stop()


def artifacts(api: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    """The latest artifact of each key, from the server's REST API."""
    response = httpx.post(
        f"{api}/artifacts/filter",
        json={"artifacts": {"key": {"any_": keys}}, "sort": "CREATED_DESC"},
        timeout=30,
    )
    response.raise_for_status()
    latest: dict[str, dict[str, Any]] = {}
    for artifact in response.json():
        latest.setdefault(artifact["key"], artifact)
    return latest


def test_the_readme_deploy_commands_work_verbatim(shell: Shell, tmp_path: Path) -> None:
    setup, runs = deploy_blocks()
    assert any(line.startswith("shoppulse deploy") for line in setup)
    spec = ShopSpec(skus=6, visitors_per_day=3000)  # a small shop on the default timeline
    with SimulatorServer(Simulator("normal", 0, spec), token=TOKEN) as sim:
        (tmp_path / "shoppulse.yaml").write_text(
            "shop: {name: demo-shop, timezone: Asia/Shanghai}\n"
            f"source: {{kind: http, base_url: '{sim.base_url}', token: '${{SHOP_API_TOKEN}}',"
            " lookback_hours: 3}\n"
            "warehouse: {path: data/demo-shop.duckdb}\n",
            encoding="utf-8",
        )
        for line in setup:
            shell.run(line, stdin=TOKEN + "\n")
        # the two runs wait on each other only for the warehouse's writer lock
        procs = [
            subprocess.Popen(
                ["bash", "-c", shell.text(line)],
                cwd=tmp_path,
                env=shell.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            for line in runs
            if line
        ]
        try:
            outputs = [p.communicate(timeout=300)[0].decode(errors="replace") for p in procs]
        finally:
            for proc in procs:
                _stop_group(proc, grace=0)  # only a run still going (a timeout) is stopped
        for line, proc, out in zip([r for r in runs if r], procs, outputs, strict=True):
            assert proc.returncode == 0, f"{line!r} exited {proc.returncode}:\n{out[-3000:]}"
            assert "Completed" in out

    # the deployments carry the shop's timezone
    api = shell.env["PREFECT_API_URL"]
    hourly = httpx.get(f"{api}/deployments/name/hourly-etl/demo-shop", timeout=30).json()
    assert [s["schedule"]["timezone"] for s in hourly["schedules"]] == [SHANGHAI]

    # KPI rows: the backfilled hours 07:00-10:00 and the hourly run's 08:00-11:00 are complete
    with duckdb.connect(str(tmp_path / "data" / "demo-shop.duckdb"), read_only=True) as con:
        con.execute(f"set TimeZone = '{SHANGHAI}'")
        rows = con.execute(
            "select strftime(hour, '%Y-%m-%dT%H:%M'), visitors, buyers"
            " from mart.kpi_hourly where complete order by hour"
        ).fetchall()
        incomplete = con.execute(
            "select count(*) from mart.kpi_hourly where not complete"
        ).fetchone()
    assert [r[0] for r in rows] == [f"2026-11-11T{h:02d}:00" for h in (7, 8, 9, 10)]
    assert all(visitors > 0 and buyers > 0 for _, visitors, buyers in rows)
    assert incomplete is not None and incomplete[0] > 0  # lines updated late, marked

    found = artifacts(
        api,
        ["demo-shop-hourly", "demo-shop-hourly-kpis", "demo-shop-backfill", "demo-shop-failure"],
    )
    assert "demo-shop-failure" not in found
    assert "2026-11-11T10:00:00+08:00" in found["demo-shop-hourly"]["data"]
    assert '"kpi": "visitors"' in found["demo-shop-hourly-kpis"]["data"]
    assert "chunks loaded: **1 of 1**" in found["demo-shop-backfill"]["data"]
    # nothing the test started is left: the worker's and server's groups are gone after stop
    shell.stop()
    for _, job in shell.jobs:
        assert job.poll() is not None


def test_the_readme_deploy_blocks_are_what_the_slow_test_runs() -> None:
    setup, runs = deploy_blocks()
    assert "prefect server start &" in setup and "prefect worker start --pool shoppulse &" in setup
    assert [shlex.split(r)[:3] for r in runs if r] == [["prefect", "deployment", "run"]] * 2
