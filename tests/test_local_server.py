"""Which Prefect API a command treats as configured: never its own temporary server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows import local_server
from flows.local_server import TemporaryServer, configured_api_url


@pytest.fixture
def tied() -> Iterator[TemporaryServer]:
    """A temporary server registered as the command's own (not started: only its address)."""
    server = TemporaryServer()
    server.port = 4201
    local_server._tied.append(server)
    try:
        yield server
    finally:
        local_server._tied.remove(server)


def test_the_commands_own_temporary_server_is_not_a_configured_api(
    tied: TemporaryServer,
) -> None:
    # a Secret block looked up before `serve` starts its scheduler's server points Prefect at
    # the temporary one; serve must still start the server that schedules
    with temporary_settings(updates={PREFECT_API_URL: tied.api_url}):
        assert configured_api_url() is None
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        assert configured_api_url() == "http://127.0.0.1:4200/api"


def test_no_api_url_is_no_configured_api() -> None:
    with temporary_settings(updates={PREFECT_API_URL: None}):
        assert configured_api_url() is None
