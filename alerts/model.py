"""The alert model: what a rule emits for one evaluated hour, and its stable fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.errors import InvalidAlertError

__all__ = ["RESERVED_LABELS", "SEVERITIES", "Alert", "fingerprint"]

SEVERITIES = ("info", "warning", "critical")
# Labels the alert pipeline sets itself; they never take part in the fingerprint.
RESERVED_LABELS = frozenset({"alertname", "severity", "shop"})


def fingerprint(alertname: str, labels: Mapping[str, str]) -> str:
    """Stable 16-hex-digit hash of the alert name and its scope labels (order-independent)."""
    scope = sorted((k, str(v)) for k, v in labels.items() if k not in RESERVED_LABELS)
    text = json.dumps([alertname, scope], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Alert:
    """One alert a rule raised for one evaluated hour.

    `labels` are scope labels (source, sku_id, promo_id, ...); `annotations` carry
    `summary`, `description`, `value`, `baseline` and optionally `action`, `root_cause`
    (one cause per line) and `unit` (ratio|currency|count|hours, how value/baseline read).
    `for_hours` is the pending period in hours; None fires at once (as 1).
    """

    alertname: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    hour: datetime
    impact: float = 0.0
    for_hours: int | None = field(default=None, compare=False)
    # alertnames this alert holds back in the same hour (a data gap is not a business drop)
    inhibits: frozenset[str] = field(default_factory=frozenset, compare=False)

    def __post_init__(self) -> None:
        if not self.alertname:
            raise InvalidAlertError("alert has an empty alertname")
        if self.severity not in SEVERITIES:
            raise InvalidAlertError(
                f"alert {self.alertname}: severity {self.severity!r} is not one of"
                f" {', '.join(SEVERITIES)}"
            )
        if self.hour.tzinfo is None or self.hour.utcoffset() is None:
            raise InvalidAlertError(f"alert {self.alertname}: hour {self.hour} has no timezone")
        for key, value in {**self.labels, **self.annotations}.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidAlertError(
                    f"alert {self.alertname}: label/annotation {key!r} must be a string"
                )
        if self.for_hours is not None and self.for_hours < 1:
            raise InvalidAlertError(f"alert {self.alertname}: for_hours must be at least 1")

    @property
    def fingerprint(self) -> str:
        """Stable hash of alertname + scope labels: the identity of the alert across hours."""
        return fingerprint(self.alertname, self.labels)

    @property
    def hour_end(self) -> datetime:
        return self.hour + timedelta(hours=1)
