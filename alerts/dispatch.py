"""One call for a run's alert step: record the hour's alert states, then send what is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import httpx

from alerts.lifecycle import ProcessResult, process
from alerts.model import Alert
from alerts.outbox import FlushResult, flush
from alerts.settings import AlertSettings
from alerts.store import AlertStore

__all__ = ["DispatchResult", "dispatch"]


@dataclass(frozen=True)
class DispatchResult:
    processed: ProcessResult
    flushed: FlushResult | None


def dispatch(
    warehouse: AlertStore,
    settings: AlertSettings,
    hour: datetime,
    firing: list[Alert],
    evaluated: set[str] | None = None,
    *,
    mode: Literal["record", "deliver"] = "deliver",
    now: datetime | None = None,
    http: httpx.Client | None = None,
) -> DispatchResult:
    """`process` the hour; in `deliver` mode then `flush` the outbox (this hour's messages and
    any earlier ones still pending). `record` mode never sends."""
    processed = process(warehouse, settings, hour, firing, evaluated, mode=mode, now=now)
    flushed = flush(warehouse, settings, now=now, http=http) if mode == "deliver" else None
    return DispatchResult(processed, flushed)
