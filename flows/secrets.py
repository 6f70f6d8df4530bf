"""Config variables for deployed runs: the environment first, then a Prefect Secret block.

A deployed flow run has no shell to export `SHOP_API_TOKEN` in. `${SHOP_API_TOKEN}` in
shoppulse.yaml then reads the Prefect Secret block `shop-api-token` (the variable's name in
lower case, `_` as `-`) at run time, so the secret is never written into a deployment, its job
variables or its parameters. Outside a Prefect run only the environment is read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

__all__ = ["block_name", "run_env", "secret_env"]


def block_name(variable: str) -> str:
    """The Secret block standing in for a variable: SHOP_API_TOKEN → shop-api-token."""
    return variable.lower().replace("_", "-")


class _WithSecretBlocks(Mapping[str, str]):
    """The environment, falling back to Prefect Secret blocks for names it lacks."""

    def __init__(self, base: Mapping[str, str]) -> None:
        self._base = base
        self._found: dict[str, str | None] = {}

    def _secret(self, name: str) -> str | None:
        if name not in self._found:
            from prefect.blocks.system import Secret

            from flows.local_server import tie_temporary_server

            tie_temporary_server()  # with no API configured, the command's own server
            try:
                value = Secret.load(block_name(name)).get()  # type: ignore[union-attr]
            except ValueError:  # no such block
                value = None
            self._found[name] = None if value is None else str(value)
        return self._found[name]

    def __getitem__(self, name: str) -> str:
        if name in self._base:
            return self._base[name]
        value = self._secret(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name in self._base or self._secret(name) is not None

    def describe_missing(self, name: str) -> str:
        """What a missing variable's error says: both places looked in."""
        return (
            f"environment variable {name} is not set, and there is no Prefect Secret block"
            f" {block_name(name)!r} (create it: see README, Deploy)"
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)


def secret_env() -> Mapping[str, str]:
    """The environment, then Prefect Secret blocks (needs a Prefect API)."""
    return _WithSecretBlocks(os.environ)


def run_env() -> Mapping[str, str]:
    """What `${VAR}` in the config reads in a flow run: the environment, then Secret blocks."""
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        return os.environ
    return secret_env()
