"""The outbox: send pending `ops.deliveries` rows, retrying on later runs, then giving up.

`lifecycle.process` writes a delivery in the same transaction as the alert state it reports;
`flush` sends what is pending. A failed send stays `pending` with its error and attempt
count, and is tried again by the next flush until `alerting.max_attempts`, then it is `dead`
(shown by `shoppulse alerts list`). Delivery is at least once: every attempt carries the same
idempotency key, the delivery id.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from alerts.channels import CHANNEL_TYPES, build_channel
from alerts.digest import outgoing_from_payload
from alerts.errors import AlertError, ChannelConfigError
from alerts.renderer import Renderer
from alerts.settings import AlertSettings
from alerts.store import AlertStore

__all__ = ["FlushResult", "flush"]


@dataclass(frozen=True)
class FlushResult:
    """Delivery ids by outcome; `errors` maps each failed delivery id to its error."""

    sent: tuple[str, ...] = ()
    retrying: tuple[str, ...] = ()
    dead: tuple[str, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)


def flush(
    warehouse: AlertStore,
    settings: AlertSettings,
    *,
    now: datetime | None = None,
    http: httpx.Client | None = None,
) -> FlushResult:
    """Try every pending delivery once, oldest first; record sent, retry or dead."""
    at = now.astimezone(UTC) if now is not None else datetime.now(UTC)
    rows = warehouse.rows(
        "select delivery_id, channel, payload, attempts from ops.deliveries"
        " where state = 'pending' order by created_at, hour, delivery_id"
    )
    if not rows:
        return FlushResult()
    renderer = Renderer(settings)
    configs = {c.name: c for c in settings.channels}
    sent: list[str] = []
    retrying: list[str] = []
    dead: list[str] = []
    errors: dict[str, str] = {}
    own: list[httpx.Client] = []

    def client_for(channel_type: str) -> httpx.Client | None:
        # only channels that post over HTTP get a client, made once (its TLS setup is slow)
        if http is not None or not CHANNEL_TYPES[channel_type].uses_http:
            return http
        if not own:
            # trust_env=False: proxy variables must not reroute alerts (or leak them) elsewhere
            own.append(httpx.Client(trust_env=False, follow_redirects=False))
        return own[0]

    last_sent: dict[str, float] = {}
    try:
        for delivery_id, channel, payload, attempts in rows:
            attempt = attempts + 1
            try:
                config = configs.get(channel)
                if config is None:
                    raise ChannelConfigError(f"channel {channel!r} is no longer configured")
                message = outgoing_from_payload(json.loads(payload))
                sender = build_channel(config, renderer, client_for(config.type))
                # a backlog (retries, a backfill in deliver mode) must not trip rate limits
                wait = last_sent.get(channel, -1e9) + sender.min_interval - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    sender.send(message)
                finally:
                    last_sent[channel] = time.monotonic()
            except AlertError as exc:
                error = str(exc)
                state = "dead" if attempt >= settings.alerting.max_attempts else "pending"
                (dead if state == "dead" else retrying).append(delivery_id)
                errors[delivery_id] = error
                warehouse.execute(
                    "update ops.deliveries set state = ?, attempts = ?, last_error = ?,"
                    " last_attempt_at = ? where delivery_id = ?",
                    [state, attempt, error, at, delivery_id],
                )
            else:
                sent.append(delivery_id)
                warehouse.execute(
                    "update ops.deliveries set state = 'sent', attempts = ?, sent_at = ?,"
                    " last_attempt_at = ? where delivery_id = ?",
                    [attempt, at, at, delivery_id],
                )
    finally:
        for client in own:
            client.close()
    return FlushResult(tuple(sent), tuple(retrying), tuple(dead), errors)
