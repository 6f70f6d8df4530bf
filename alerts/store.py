"""Where alert state lives: the small storage protocol the alerts package writes through."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

__all__ = ["AlertStore"]

Params = Mapping[str, Any] | list[Any] | None


class AlertStore(Protocol):
    """SQL over the shop's `ops` tables (alerts, deliveries, silences); flows' warehouse is one."""

    def rows(self, sql: str, params: Params = None) -> list[Any]: ...

    def execute(self, sql: str, params: Params = None) -> None: ...

    def transaction(self) -> AbstractContextManager[Any]: ...
