"""Ground truth: the incidents a correct pipeline should alert on, and injected data defects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["ALERTNAMES", "Defect", "Incident"]

ALERTNAMES = (
    "conversion_drop",
    "low_stock_promo",
    "cancel_spike",
    "data_gap",
    "promo_audit",
    "slow_service",
    "negative_review",
    "review_attack",
    "late_shipping",
    "return_spike",
)


@dataclass(frozen=True)
class Incident:
    """An alert a correct pipeline fires: name, scope labels and the hours it covers."""

    alertname: str
    labels: dict[str, str]
    start: datetime
    end: datetime
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (as served at /v1/_truth)."""
        return {
            "alertname": self.alertname,
            "labels": dict(self.labels),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "details": self.details,
        }


@dataclass(frozen=True)
class Defect:
    """A record the export serves on purpose that a loader must quarantine or cope with."""

    dataset: str
    kind: str
    window_at: datetime
    key: dict[str, str]
    quarantine: bool

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (as served at /v1/_truth)."""
        return {
            "dataset": self.dataset,
            "kind": self.kind,
            "window_at": self.window_at.isoformat(),
            "key": dict(self.key),
            "quarantine": self.quarantine,
        }
