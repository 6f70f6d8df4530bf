"""Silences: label matchers that keep matching alerts from being sent (they are still recorded)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.errors import SilenceError
from alerts.store import AlertStore

__all__ = [
    "Silence",
    "active_silences",
    "add_silence",
    "list_silences",
    "parse_duration",
    "parse_matchers",
    "remove_silence",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Silence:
    silence_id: str
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when every matcher equals the alert's label (a missing label is '')."""
        return all(labels.get(k, "") == v for k, v in self.matchers.items())


def parse_matchers(items: Iterable[str]) -> dict[str, str]:
    """Turn CLI `label=value` strings into a matcher mapping."""
    matchers: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SilenceError(f"matcher {item!r} is not label=value")
        matchers[key] = value.strip()
    return matchers


def parse_duration(text: str) -> timedelta:
    """Parse a duration like 30m, 6h, 2d or 1w."""
    match = _DURATION.match(text)
    if match is None:
        raise SilenceError(f"duration {text!r} is not a number followed by m, h, d or w")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise SilenceError(f"{what} {value} has no timezone")
    return value.astimezone(UTC)


def add_silence(
    warehouse: AlertStore,
    matchers: Mapping[str, str],
    until: datetime,
    reason: str,
    created_by: str,
    *,
    now: datetime | None = None,
) -> str:
    """Silence alerts whose labels match every matcher until `until`; returns the silence id."""
    start = _utc(now, "now") if now is not None else datetime.now(UTC)
    end = _utc(until, "until")
    if not matchers:
        raise SilenceError("a silence needs at least one label=value matcher")
    if any(not str(k).strip() for k in matchers):
        raise SilenceError("a silence matcher has an empty label name")
    if end <= start:
        raise SilenceError(f"silence end {end.isoformat()} is not in the future")
    if not reason.strip():
        raise SilenceError("a silence needs a reason")
    silence_id = uuid.uuid4().hex[:12]
    warehouse.execute(
        "insert into ops.silences (silence_id, matchers, starts_at, ends_at, reason,"
        " created_by, created_at) values (?, ?, ?, ?, ?, ?, ?)",
        [
            silence_id,
            json.dumps(dict(sorted(matchers.items())), ensure_ascii=False),
            start,
            end,
            reason.strip(),
            created_by,
            start,
        ],
    )
    return silence_id


def remove_silence(warehouse: AlertStore, silence_id: str, *, now: datetime | None = None) -> None:
    """Expire a silence now; it stays listed as history (`list_silences(include_expired=True)`)."""
    at = _utc(now, "now") if now is not None else datetime.now(UTC)
    rows = warehouse.rows(
        "select removed_at, ends_at from ops.silences where silence_id = ?", [silence_id]
    )
    if not rows:
        raise SilenceError(f"no silence with id {silence_id!r}")
    if rows[0][0] is not None:
        raise SilenceError(f"silence {silence_id} was already removed")
    warehouse.execute(
        "update ops.silences set removed_at = ? where silence_id = ?", [at, silence_id]
    )


def _silence(row: tuple[Any, ...]) -> Silence:
    return Silence(
        silence_id=row[0],
        matchers=json.loads(row[1]),
        starts_at=row[2].astimezone(UTC),
        ends_at=row[3].astimezone(UTC),
        reason=row[4],
        created_by=row[5],
    )


def active_silences(warehouse: AlertStore, now: datetime) -> list[Silence]:
    """Silences in force at `now`."""
    rows = warehouse.rows(
        "select silence_id, matchers, starts_at, ends_at, reason, created_by"
        " from ops.silences"
        " where removed_at is null and starts_at <= ? and ends_at > ?"
        " order by created_at, silence_id",
        [now, now],
    )
    return [_silence(row) for row in rows]


def list_silences(
    warehouse: AlertStore, *, include_expired: bool = False, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Silences as plain rows for `shoppulse alerts list`; active ones unless include_expired."""
    at = _utc(now, "now") if now is not None else datetime.now(UTC)
    rows = warehouse.rows(
        "select silence_id, matchers, starts_at, ends_at, reason, created_by, removed_at"
        " from ops.silences order by created_at, silence_id"
    )
    result = []
    for row in rows:
        silence = _silence(row)
        removed = row[6].astimezone(UTC) if row[6] is not None else None
        active = removed is None and silence.starts_at <= at < silence.ends_at
        if not (active or include_expired):
            continue
        result.append(
            {
                "silence_id": silence.silence_id,
                "matchers": silence.matchers,
                "starts_at": silence.starts_at,
                "ends_at": removed if removed is not None else silence.ends_at,
                "reason": silence.reason,
                "created_by": silence.created_by,
                "active": active,
            }
        )
    return result
