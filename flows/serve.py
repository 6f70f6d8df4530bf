"""`shoppulse serve`: schedule every shop's hourly run, daily RFM and reviews with Prefect.

Prefect's temporary (ephemeral) server runs no scheduler, so with no PREFECT_API_URL set this
starts a local `prefect server start` on 127.0.0.1 for as long as it serves, and stops it on
Ctrl-C. Each scheduled run is its own flow run in its own process; shops run side by side.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from flows.deployments import DAILY_DIGEST_CRON, DAILY_RFM_CRON, HOURLY_CRON, WEEKLY_REVIEW_CRON
from flows.errors import ShoppulseError
from flows.local_server import (
    configured_api_url,
    free_port,
    log_path,
    spawn,
    stop,
    wait_healthy,
)
from flows.secrets import secret_env
from flows.shops import Shop, load_shops

__all__ = [
    "DAILY_DIGEST_CRON",
    "DAILY_RFM_CRON",
    "HOURLY_CRON",
    "WEEKLY_REVIEW_CRON",
    "build_deployments",
    "prefect_api",
    "serve_shops",
]


def build_deployments(shops: Sequence[Shop]) -> list[Any]:
    """Per shop: `hourly-etl/<shop>` on HOURLY_CRON, `daily-rfm/<shop>` on DAILY_RFM_CRON,
    `daily-digest/<shop>` on DAILY_DIGEST_CRON and `weekly-review/<shop>` on
    WEEKLY_REVIEW_CRON, all in the shop's timezone, passing the shop's config file."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from flows.digest import daily_digest, weekly_review
    from flows.etl import hourly_etl
    from flows.rfm import daily_rfm

    deployments = []
    for shop in shops:
        tz = shop.settings.shop.timezone
        common: dict[str, Any] = {
            "name": shop.name,
            "parameters": {"config": str(shop.config)},
            "tags": ["shoppulse", f"shop:{shop.name}"],
            # served runs import the installed package, whatever the working directory
            "entrypoint_type": EntrypointType.MODULE_PATH,
        }
        deployments.append(
            hourly_etl.to_deployment(schedules=[Cron(HOURLY_CRON, timezone=tz)], **common)
        )
        for flow, cron in (
            (daily_rfm, DAILY_RFM_CRON),
            (daily_digest, DAILY_DIGEST_CRON),
            (weekly_review, WEEKLY_REVIEW_CRON),
        ):
            deployments.append(flow.to_deployment(schedules=[Cron(cron, timezone=tz)], **common))
    return deployments


@contextmanager
def prefect_api(timeout: float = 120.0) -> Iterator[str]:
    """The Prefect API to schedule on: PREFECT_API_URL when set, else a local server on
    127.0.0.1 started for the block (its log in PREFECT_HOME/server.log)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # not the command's own temporary server, which runs no scheduler
    configured = configured_api_url()
    if configured:
        yield configured
        return
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = log_path("server")
    # in its own session and tied to this process (flows.local_server): Ctrl-C reaches the
    # runner alone, which stops first; the server is stopped after it, in the finally below
    server = spawn(
        "prefect",
        ["server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"],
        log=log,
    )
    try:
        _wait_healthy(server, url, timeout, log)
        # flow-run processes the runner starts read the API from their environment
        os.environ["PREFECT_API_URL"] = url
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        stop(server, grace=15)


def _wait_healthy(server: subprocess.Popen[bytes], url: str, timeout: float, log: Path) -> None:
    try:
        code = wait_healthy(server, url, time.monotonic() + timeout)
    except TimeoutError:
        raise ShoppulseError(
            f"the local Prefect server did not answer within {timeout:.0f}s ({log})"
        ) from None
    if code is not None:
        raise ShoppulseError(f"the local Prefect server exited with code {code} (see {log})")


async def _run_until_interrupted(runner: Any, interrupted: threading.Event) -> None:
    """Run the runner until Ctrl-C or SIGTERM, then cancel it: it pauses its schedules."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if interrupted.is_set():
        stop.set()
    serving = asyncio.create_task(runner.start())
    waiting = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
    for task in (serving, waiting):
        task.cancel()
    with suppress(asyncio.CancelledError):
        await serving
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)


def serve_shops(configs: Sequence[Path], *, limit: int | None = None) -> None:
    """Serve every shop's deployments until Ctrl-C (or SIGTERM), then pause their schedules.

    Configs are validated first, their `${VAR}`s read from the environment or Secret blocks.
    This is `prefect.serve`, with the deployments registered before it says it is serving.
    """
    from prefect.runner import Runner

    shops = load_shops(configs, secret_env())
    interrupted = threading.Event()
    # Ctrl-C and SIGTERM only set a flag: a KeyboardInterrupt raised at an arbitrary point
    # (inside a garbage-collected event loop, or the server's cleanup) would escape or print
    # tracebacks instead of stopping the runner, then the server, in order
    previous = {
        sig: signal.signal(sig, lambda *_: interrupted.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with prefect_api() as url:
            deployments = build_deployments(shops)
            runner = Runner(pause_on_shutdown=True, limit=limit)
            for deployment in deployments:
                runner.add_deployment(deployment)
            names = ", ".join(f"{d.flow_name}/{d.name}" for d in deployments)
            print(
                f"shoppulse: serving {names} on {url.removesuffix('/api')}; Ctrl-C stops",
                file=sys.stderr,
                flush=True,
            )
            if not interrupted.is_set():
                asyncio.run(_run_until_interrupted(runner, interrupted))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("shoppulse: stopped serving", file=sys.stderr, flush=True)
