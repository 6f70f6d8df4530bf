"""Digests on the alert machinery: the daily or weekly review as an outbox message.

A digest is queued in `ops.deliveries` once per shop, period and channel: its delivery id is a
hash of those, so a rerun for the same day or week queues (and sends) nothing new, and a failed
send is retried by the next flush like any alert message. The stored payload carries the
figures, so a retry sends what the first attempt would have.

Routing: a digest has the labels `alertname` (`daily_digest` or `weekly_review`), `severity`
`info` and `shop`, so `routes:` can send it to some channels only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerts.message import Message, rfc3339
from alerts.routing import select_channels
from alerts.settings import AlertSettings
from alerts.store import AlertStore

__all__ = [
    "DIGEST_KINDS",
    "Digest",
    "Outgoing",
    "digest_id",
    "enqueue_digest",
    "outgoing_from_payload",
]

# kind -> the alertname routes see
DIGEST_KINDS = {"daily": "daily_digest", "weekly": "weekly_review"}


@dataclass(frozen=True)
class Digest:
    """One channel's copy of a daily or weekly review: figures as the digest flow computed them."""

    delivery_id: str
    receiver: str
    shop: str
    kind: str  # daily | weekly
    period: str  # 2026-11-11 | 2026-W46
    hour: datetime  # the period's first instant
    figures: dict[str, Any]

    # what channels ask of any message
    status = "digest"

    def webhook(self) -> dict[str, Any]:
        """The JSON a webhook receives: the figures, as `shoppulse digest --format json`."""
        return {
            "version": "shoppulse-digest/1",
            "kind": self.kind,
            "shop": self.shop,
            "period": self.period,
            "receiver": self.receiver,
            "figures": self.figures,
        }

    def to_payload(self) -> dict[str, Any]:
        return {
            "type": "digest",
            "delivery_id": self.delivery_id,
            "receiver": self.receiver,
            "shop": self.shop,
            "kind": self.kind,
            "period": self.period,
            "hour": rfc3339(self.hour),
            "figures": self.figures,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> Digest:
        return cls(
            delivery_id=data["delivery_id"],
            receiver=data["receiver"],
            shop=data["shop"],
            kind=data["kind"],
            period=data["period"],
            hour=datetime.fromisoformat(data["hour"].replace("Z", "+00:00")).astimezone(UTC),
            figures=dict(data["figures"]),
        )


Outgoing = Message | Digest


def outgoing_from_payload(data: dict[str, Any]) -> Outgoing:
    """An outbox payload back as the message it stores: an alert message or a digest."""
    if data.get("type") == "digest":
        return Digest.from_payload(data)
    return Message.from_payload(data)


def digest_id(shop: str, kind: str, period: str, channel: str) -> str:
    """The idempotency key of one digest on one channel: the same on every rerun."""
    text = f"digest\x1f{shop}\x1f{kind}\x1f{period}\x1f{channel}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def enqueue_digest(
    warehouse: AlertStore,
    settings: AlertSettings,
    kind: str,
    period: str,
    start: datetime,
    figures: dict[str, Any],
    *,
    now: datetime | None = None,
) -> list[str]:
    """Queue the digest for every channel its route selects, unless already queued; returns
    the delivery ids queued now (empty on a rerun)."""
    if kind not in DIGEST_KINDS:
        raise ValueError(f"unknown digest kind {kind!r}")
    at = (now or datetime.now(UTC)).astimezone(UTC)
    shop = settings.shop.name
    labels = {"alertname": DIGEST_KINDS[kind], "severity": "info", "shop": shop}
    channels = select_channels(labels, settings.routes, [c.name for c in settings.channels])
    ids = {channel: digest_id(shop, kind, period, channel) for channel in channels}
    queued: list[str] = []
    with warehouse.transaction() as con:
        known = {
            row[0]
            for row in con.execute(
                "select delivery_id from ops.deliveries where list_contains(?::varchar[], "
                "delivery_id)",
                [list(ids.values())],
            ).fetchall()
        }
        for channel, delivery_id in ids.items():
            if delivery_id in known:
                continue
            digest = Digest(
                delivery_id, channel, shop, kind, period, start.astimezone(UTC), figures
            )
            con.execute(
                "insert into ops.deliveries (delivery_id, channel, group_key, payload,"
                " state, attempts, hour, fingerprints, created_at)"
                " values (?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
                [
                    delivery_id,
                    channel,
                    f'{{}}:{{shop="{shop}", digest="{kind}"}}',
                    json.dumps(digest.to_payload(), ensure_ascii=False, default=str),
                    start.astimezone(UTC),
                    [],
                    at,
                ],
            )
            queued.append(delivery_id)
    return queued
