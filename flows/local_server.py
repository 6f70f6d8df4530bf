"""Servers a command starts for itself, tied to it: they end with it, however it ends.

With no PREFECT_API_URL set, Prefect would start a temporary API server in a subprocess and
stop it at interpreter exit. A command that exits early (the CLI leaves with `os._exit`), dies
of a signal or is killed never gets there, and the server lived on with no parent, holding the
command's stdout and stderr open so that a caller reading them to the end hung. Instead the
command starts that server itself (`tie_temporary_server`) and points Prefect at it by URL.
Each server a command starts for itself:

- writes its output to a log file under PREFECT_HOME, never to the command's streams;
- runs in its own session, so the terminal's Ctrl-C reaches the command alone, which then
  stops its runners first and its server last;
- watches its parent and stops itself within a second once the parent is gone (kill -9).

Run as `python -m flows.local_server PARENT_PID MODULE ARGS…` it is that watchdog around
`python -m MODULE ARGS…`.
"""

from __future__ import annotations

import os
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager, suppress
from pathlib import Path
from typing import NoReturn

__all__ = [
    "TemporaryServer",
    "configured_api_url",
    "free_port",
    "local_run_settings",
    "log_path",
    "spawn",
    "start_temporary_server_early",
    "stop",
    "stop_temporary_server",
    "tie_temporary_server",
    "wait_healthy",
    "without_heartbeats",
]

_tied: list[TemporaryServer] = []

# What the command's own temporary server leaves out (a setting in the environment wins):
# its automations (nothing outlives the command to act on them), and registering Prefect's
# block types at start (a block registers its type when it is saved). Measured: up in 3.98 s
# instead of 4.74 s on a used Prefect home (medians of 5, alternating).
_LEAN_SERVER = {
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
    "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
}


def log_path(name: str) -> Path:
    """Where a tied server writes its output: PREFECT_HOME/<name>.log."""
    from prefect.settings import PREFECT_HOME

    home = Path(PREFECT_HOME.value())
    home.mkdir(parents=True, exist_ok=True)
    return home / f"{name}.log"


def spawn(
    module: str,
    args: Sequence[str],
    *,
    log: Path,
    env: dict[str, str] | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start `python -m module args…` tied to this process, its output appended to `log`
    (`pass_fds`: descriptors it inherits, such as a listening socket)."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flows.local_server", str(os.getpid()), module, *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            pass_fds=tuple(pass_fds),
        )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, for a server this command starts."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(process: subprocess.Popen[bytes], url: str, deadline: float) -> int | None:
    """Poll the Prefect API at `url` until its /health answers 200 (None) or `process` ends (its
    exit status); raise TimeoutError once time.monotonic() passes `deadline`."""
    import httpx

    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                return code
            with suppress(httpx.TransportError):
                if client.get(f"{url}/health").status_code == 200:
                    return None
            time.sleep(0.1)
    raise TimeoutError(url)


def stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """Ask a spawned process to stop (SIGTERM), kill it after `grace` seconds, reap it."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class TemporaryServer:
    """Prefect's temporary API server for one command: the app Prefect's own temporary server
    runs, as a `spawn`ed uvicorn on a free loopback port, which Prefect is pointed at by URL.
    Prefect's own way to start one imports its whole server into the command (about 2.5 s)."""

    def __init__(self) -> None:
        self.port: int | None = None
        self.server_process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        """Start it and wait until it answers; raise, in one line naming its log, if it ends or
        stays silent past PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS."""
        from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

        timeout = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
        deadline = time.monotonic() + timeout
        while True:
            process = self._spawn()
            try:
                code = wait_healthy(process, self.api_url, deadline)
            except TimeoutError:
                self._fail(
                    f"did not answer within {timeout:.0f}s"
                    " (raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS on a slow machine)"
                )
            if code is None:
                return
            if code != 3:  # 3: uvicorn lost its port to another process meanwhile; another
                self._fail(f"exited with status {code} before it answered")

    def stop(self) -> None:
        if self.server_process is not None:
            stop(self.server_process, grace=10)
            self.server_process = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        import prefect
        from prefect.settings import get_current_settings

        self.port = free_port()
        args = [
            *("--app-dir", str(prefect.__module_path__.parent)),
            *("--factory", "prefect.server.api.server:create_app"),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--log-level", "error", "--lifespan", "on"),
        ]
        env = {
            **_LEAN_SERVER,
            **os.environ,
            # what Prefect sets for its own temporary server
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            **get_current_settings().to_environment_variables(exclude_unset=True),
        }
        self.server_process = spawn("uvicorn", args, log=log_path("temporary-server"), env=env)
        return self.server_process

    def _fail(self, why: str) -> NoReturn:
        from flows.errors import ShoppulseError

        raise ShoppulseError(
            f"Prefect's temporary server {why}; its log: {log_path('temporary-server')}"
        )


_starting = threading.Lock()
# the settings that point this thread's Prefect at the tied server, held for the command
_pointed = ExitStack()


def _api_configured() -> bool:
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def configured_api_url() -> str | None:
    """The Prefect API this thread is pointed at, unless it is the command's own temporary
    server (a Secret block looked up before `serve` started its scheduler's server, say)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url or any(url == server.api_url for server in _tied):
        return None
    return str(url)


def _start_tied() -> None:
    """Start the command's temporary server unless it is started (or starting elsewhere)."""
    with _starting:
        if not _tied:
            server = TemporaryServer()
            _tied.append(server)  # stopped by stop_temporary_server, even half started
            server.start()


def _point() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    _pointed.enter_context(temporary_settings(updates={PREFECT_API_URL: _tied[0].api_url}))


def tie_temporary_server() -> None:
    """Start the command's own temporary server and point this thread's Prefect at it.

    Call before the first flow run, or anything else that needs Prefect's API (a Secret
    block); `stop_temporary_server` ends it. Does nothing when an API is configured (a
    deployment, a test harness, or a server tied before).
    """
    if _api_configured():
        return
    _start_tied()
    _point()


@contextmanager
def local_run_settings() -> Iterator[None]:
    """Prefect settings for flow runs against the command's own temporary server (no
    `PREFECT_API_URL` configured): `without_heartbeats`. With an API configured, Prefect's
    defaults."""
    if _api_configured():
        yield
        return
    with without_heartbeats():
        yield


@contextmanager
def without_heartbeats() -> Iterator[None]:
    """Flow runs send no heartbeats. Nothing outlives a temporary server to watch them, and each
    run's end would wait up to a second for Prefect's heartbeat thread's sleep."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def start_temporary_server_early(then: Callable[[], None] | None = None) -> Callable[[], None]:
    """Start the tied temporary server from a thread, so it comes up while the command does
    other work, then run `then` in that thread (imports the command's flows will need);
    returns a `wait` to call before the first flow run, which re-raises a failure and points
    the caller's Prefect at the server. Nothing is started when an API is configured."""
    failure: list[BaseException] = []
    configured = _api_configured()

    def start() -> None:
        try:
            if not configured:
                _start_tied()
            if then is not None:
                then()
        except BaseException as exc:  # handed to the caller's thread by `wait`
            failure.append(exc)

    thread = threading.Thread(target=start, name="prefect-temporary-server", daemon=True)
    thread.start()

    def wait() -> None:
        thread.join()
        if failure:
            raise failure[0]
        if not configured:
            tie_temporary_server()  # started: points the caller's thread at it

    return wait


def stop_temporary_server() -> None:
    """Stop the temporary server `tie_temporary_server` set up, and any other Prefect started
    in this process (a command that did not tie one), after Prefect's log and event workers
    have sent what they hold to it. For the command line's exit, never inside a test harness."""
    module = sys.modules.get("prefect.server.api.server")
    untied = list(module.SubprocessASGIServer._instances.values()) if module else []
    servers = [*_tied, *(s for s in untied if s not in _tied)]
    _tied.clear()
    if any(s.server_process is not None for s in servers):
        _drain_prefect_workers()
    for server in servers:
        server.stop()


def _drain_prefect_workers() -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        with suppress(Exception):  # a worker never started, or one stuck: the server goes anyway
            worker.drain_all(timeout=5)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
    os._exit(1)


def _main(argv: list[str]) -> None:
    parent, module, *args = argv
    threading.Thread(target=_watch, args=(int(parent),), daemon=True).start()
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _main(sys.argv[1:])
