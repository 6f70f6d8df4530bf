"""A message: the alerts one channel receives from one run, grouped by alertname, by impact.

The outbox stores a message as `Message.to_payload()`; channels render it at send time, so
a retry sends the same content under the same idempotency key (the delivery id).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["ZERO_TIME", "Message", "MessageAlert", "order_alerts", "rfc3339"]

ZERO_TIME = "0001-01-01T00:00:00Z"


def rfc3339(value: datetime | None) -> str:
    """RFC 3339 in UTC with a `Z`; None is Alertmanager's zero time."""
    if value is None:
        return ZERO_TIME
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str | None) -> datetime | None:
    if value is None or value == ZERO_TIME:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class MessageAlert:
    """One alert in a message; `notice` is why it is sent: firing|repeat|escalated|resolved."""

    status: str
    notice: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    fingerprint: str
    hour: datetime
    impact: float = 0.0

    @property
    def alertname(self) -> str:
        return self.labels["alertname"]

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "warning")

    def to_payload(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "notice": self.notice,
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": rfc3339(self.starts_at),
            "endsAt": rfc3339(self.ends_at),
            "fingerprint": self.fingerprint,
            "hour": rfc3339(self.hour),
            "impact": self.impact,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> MessageAlert:
        starts = _parse(data["startsAt"])
        hour = _parse(data["hour"])
        assert starts is not None and hour is not None
        return cls(
            status=data["status"],
            notice=data["notice"],
            labels=dict(data["labels"]),
            annotations=dict(data["annotations"]),
            starts_at=starts,
            ends_at=_parse(data["endsAt"]),
            fingerprint=data["fingerprint"],
            hour=hour,
            impact=float(data.get("impact", 0.0)),
        )

    def webhook(self) -> dict[str, Any]:
        """This alert in the Alertmanager webhook format."""
        return {
            "status": self.status,
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": rfc3339(self.starts_at),
            "endsAt": rfc3339(self.ends_at),
            "generatorURL": "",
            "fingerprint": self.fingerprint,
        }


def order_alerts(alerts: Iterable[MessageAlert]) -> list[MessageAlert]:
    """Firing before resolved, then by estimated impact (largest first), then stable."""
    return sorted(
        alerts, key=lambda a: (a.status != "firing", -a.impact, a.alertname, a.fingerprint)
    )


@dataclass(frozen=True)
class Message:
    """Everything one channel is told by one run: a delivery in the outbox."""

    delivery_id: str
    receiver: str
    shop: str
    hour: datetime
    alerts: tuple[MessageAlert, ...]

    @property
    def group_key(self) -> str:
        # messages are grouped per shop (one per channel per run), like `group_by: [shop]`
        return f'{{}}:{{shop="{self.shop}"}}'

    @property
    def status(self) -> str:
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    def groups(
        self, alerts: Sequence[MessageAlert] | None = None
    ) -> list[tuple[str, list[MessageAlert]]]:
        """Alerts grouped by alertname; groups ordered by their largest impact."""
        grouped: dict[str, list[MessageAlert]] = {}
        for alert in order_alerts(self.alerts if alerts is None else alerts):
            grouped.setdefault(alert.alertname, []).append(alert)
        return sorted(
            grouped.items(),
            key=lambda item: (
                all(a.status != "firing" for a in item[1]),
                -max(a.impact for a in item[1]),
                item[0],
            ),
        )

    def ordered(self) -> list[MessageAlert]:
        """The alerts in message order (group by group)."""
        return [alert for _, alerts in self.groups() for alert in alerts]

    def common(self, attribute: str) -> dict[str, str]:
        """Labels or annotations shared by every alert, as Alertmanager computes them."""
        maps = [getattr(a, attribute) for a in self.alerts]
        if not maps:
            return {}
        first = maps[0]
        return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}

    def webhook(self) -> dict[str, Any]:
        """The Prometheus Alertmanager webhook payload, version 4."""
        return {
            "version": "4",
            "groupKey": self.group_key,
            "truncatedAlerts": 0,
            "status": self.status,
            "receiver": self.receiver,
            "groupLabels": {"shop": self.shop},
            "commonLabels": self.common("labels"),
            "commonAnnotations": self.common("annotations"),
            "externalURL": "",
            "alerts": [a.webhook() for a in self.ordered()],
        }

    def to_payload(self) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "receiver": self.receiver,
            "shop": self.shop,
            "hour": rfc3339(self.hour),
            "alerts": [a.to_payload() for a in self.ordered()],
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Message:
        hour = _parse(data["hour"])
        assert hour is not None
        return cls(
            delivery_id=data["delivery_id"],
            receiver=data["receiver"],
            shop=data["shop"],
            hour=hour,
            alerts=tuple(MessageAlert.from_payload(a) for a in data["alerts"]),
        )
