"""Shared fixtures: Prefect isolated per session, a real DuckDB file per test."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Prefect reads its home at import: keep the test session's state in a temp folder, offline.
_PREFECT_HOME = tempfile.mkdtemp(prefix="shoppulse-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.pop("PREFECT_API_URL", None)


# The files with tests that run flows (they request `prefect_harness`). Under pytest-xdist
# (`make test`) each of these files runs on one worker, so a session starts one Prefect test
# server, not one per worker.
FLOW_FILES = frozenset(
    {
        "test_demo.py",
        "test_deployments.py",
        "test_digest.py",
        "test_flow.py",
        "test_orchestration.py",
        "test_run_outcomes.py",
        "test_secrets.py",
    }
)


def pytest_itemcollected(item: pytest.Item) -> None:
    if "prefect_harness" in getattr(item, "fixturenames", ()) and item.path.name not in FLOW_FILES:
        raise pytest.UsageError(
            f"{item.nodeid} runs flows: add {item.path.name} to FLOW_FILES in tests/conftest.py"
        )


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's `load` scheduling, except that the FLOW_FILES go to one worker."""
    from xdist.scheduler import LoadScopeScheduling

    class FlowsOnOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "flows" if path.rsplit("/", 1)[-1] in FLOW_FILES else nodeid

    return FlowsOnOneWorker(config, log)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test server for the whole session; tests that run flows request it. Its
    flow runs send no heartbeats, as the command line's runs on its own temporary server
    (`flows.local_server.local_run_settings`; the harness sets an API URL, so that check
    would keep them)."""
    from prefect.testing.utilities import prefect_test_harness

    from flows.local_server import without_heartbeats

    with prefect_test_harness(server_startup_timeout=120), without_heartbeats():
        yield


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "shop.duckdb"
