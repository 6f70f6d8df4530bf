"""What `shoppulse alerts list` shows: open alerts, silenced ones, undelivered messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from alerts.store import AlertStore

__all__ = ["alert_rows", "delivery_rows"]


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def alert_rows(warehouse: AlertStore) -> list[dict[str, Any]]:
    """Open (firing or pending) alerts, and any alert whose latest message is pending or dead.

    Each row: fingerprint, alertname, status, severity, silenced, labels (scope only),
    summary, starts_at, last_hour (latest hour it fired), ends_at, delivery (state of the
    latest message about it: pending|sent|dead|None), attempts, last_error, delivery_id.
    Most urgent first: firing before pending before resolved, then by severity, then age.
    """
    rows = warehouse.rows(
        """
        with fingerprinted as (
            select delivery_id, state, attempts, last_error, created_at,
                unnest(fingerprints) as fingerprint
            from ops.deliveries
        ),
        latest as (
            select * from fingerprinted
            qualify row_number() over (
                partition by fingerprint order by created_at desc, delivery_id desc
            ) = 1
        )
        select s.fingerprint, s.alertname, s.status, s.severity, s.silenced, s.labels,
            s.annotations, s.active_since, s.last_fired_hour, s.ends_at,
            l.state, l.attempts, l.last_error, l.delivery_id
        from ops.alert_state as s
        left join latest as l on l.fingerprint = s.fingerprint
        where s.status in ('pending', 'firing') or l.state in ('pending', 'dead')
        order by
            case s.status when 'firing' then 0 when 'pending' then 1 else 2 end,
            case s.severity when 'critical' then 0 when 'warning' then 1 else 2 end,
            s.active_since, s.fingerprint
        """
    )
    result = []
    for row in rows:
        labels = json.loads(row[5])
        annotations = json.loads(row[6])
        result.append(
            {
                "fingerprint": row[0],
                "alertname": row[1],
                "status": row[2],
                "severity": row[3],
                "silenced": bool(row[4]),
                "labels": {
                    k: v for k, v in labels.items() if k not in ("alertname", "severity", "shop")
                },
                "summary": annotations.get("summary", ""),
                "starts_at": _utc(row[7]),
                "last_hour": _utc(row[8]),
                "ends_at": _utc(row[9]),
                "delivery": row[10],
                "attempts": row[11],
                "last_error": row[12],
                "delivery_id": row[13],
            }
        )
    return result


def delivery_rows(
    warehouse: AlertStore, states: tuple[str, ...] = ("pending", "dead")
) -> list[dict[str, Any]]:
    """Outbox rows in the given states, oldest first (for `alerts list` and troubleshooting)."""
    rows = warehouse.rows(
        "select delivery_id, channel, state, attempts, last_error, hour, created_at, sent_at,"
        " len(fingerprints) from ops.deliveries"
        " where list_contains(?::varchar[], state) order by created_at, delivery_id",
        [list(states)],
    )
    return [
        {
            "delivery_id": r[0],
            "channel": r[1],
            "state": r[2],
            "attempts": r[3],
            "last_error": r[4],
            "hour": _utc(r[5]),
            "created_at": _utc(r[6]),
            "sent_at": _utc(r[7]),
            "alerts": r[8],
        }
        for r in rows
    ]
