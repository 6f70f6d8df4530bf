"""Alert lifecycle: pending, firing, repeat, resolve; silences, routing and the outbox write.

`process` is the one entry point. It compares the alerts a run's rules raised for one
evaluated hour with each fingerprint's stored state and, in one transaction, appends every
state change to `ops.alerts`, updates `ops.alert_state` and (mode `deliver`) writes one
message per channel to the `ops.deliveries` outbox. Sending is `alerts.outbox.flush`.

Time is evaluated-hour time, not wall time, so a backfill in `record` mode makes the same
decisions the live pipeline made: `startsAt` is the start of the first hour of the episode
(the first hour the rule raised it, pending hours included), `endsAt` the end of the last
hour it fired, and `repeat_interval_hours` counts evaluated hours since the last notice.
Silences are checked at `now` (wall time), as they are set by people for people.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from alerts.errors import InvalidAlertError
from alerts.message import Message, MessageAlert
from alerts.model import SEVERITIES, Alert
from alerts.routing import select_channels
from alerts.settings import AlertSettings
from alerts.silences import Silence, active_silences
from alerts.store import AlertStore

__all__ = ["ProcessResult", "process"]

_OPEN = ("pending", "firing")
_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
_TIME_COLUMNS = ("active_since", "last_fired_hour", "last_eval_hour", "notified_hour", "ends_at")
_STATE_COLUMNS = (
    "fingerprint",
    "alertname",
    "status",
    "severity",
    "labels",
    "annotations",
    "impact",
    "active_since",
    "last_fired_hour",
    "last_eval_hour",
    "notified_hour",
    "notified_severity",
    "ends_at",
    "silenced",
)


@dataclass(frozen=True)
class _State:
    fingerprint: str
    alertname: str
    status: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    impact: float
    active_since: datetime
    last_fired_hour: datetime
    last_eval_hour: datetime
    notified_hour: datetime | None
    notified_severity: str | None
    ends_at: datetime | None
    silenced: bool

    def row(self) -> list[Any]:
        values = [getattr(self, c) for c in _STATE_COLUMNS]
        values[4] = json.dumps(self.labels, ensure_ascii=False, sort_keys=True)
        values[5] = json.dumps(self.annotations, ensure_ascii=False, sort_keys=True)
        return values


@dataclass(frozen=True)
class _Change:
    state: _State
    hour: datetime
    notice: str | None
    # False when only bookkeeping moved (last evaluated hour, value): no ops.alerts row
    logged: bool = True


@dataclass(frozen=True)
class ProcessResult:
    """What one `process` call decided and wrote."""

    hour: datetime
    mode: str
    changes: int
    firing: tuple[str, ...]
    pending: tuple[str, ...]
    resolved: tuple[str, ...]
    notified: tuple[str, ...]
    silenced: tuple[str, ...]
    deliveries: tuple[str, ...]


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidAlertError(f"{what} {value} has no timezone")
    return value.astimezone(UTC)


def _aware(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _load_states(warehouse: AlertStore, fingerprints: list[str]) -> dict[str, _State]:
    rows = warehouse.rows(
        f"select {', '.join(_STATE_COLUMNS)} from ops.alert_state"
        " where status in ('pending', 'firing') or list_contains(?::varchar[], fingerprint)",
        [fingerprints],
    )
    states = {}
    for row in rows:
        values = dict(zip(_STATE_COLUMNS, row, strict=True))
        values["labels"] = json.loads(values["labels"])
        values["annotations"] = json.loads(values["annotations"])
        for key in _TIME_COLUMNS:
            values[key] = _aware(values[key])
        states[values["fingerprint"]] = _State(**values)
    return states


def _dedupe(firing: Iterable[Alert], hour: datetime) -> dict[str, Alert]:
    chosen: dict[str, Alert] = {}
    for alert in firing:
        if alert.hour.astimezone(UTC) != hour:
            raise InvalidAlertError(
                f"alert {alert.alertname} is for hour {alert.hour.isoformat()},"
                f" not the evaluated hour {hour.isoformat()}"
            )
        seen = chosen.get(alert.fingerprint)
        # two results for one fingerprint: keep the more severe, then the costlier
        if seen is None or (_RANK[alert.severity], alert.impact) > (
            _RANK[seen.severity],
            seen.impact,
        ):
            chosen[alert.fingerprint] = alert
    return chosen


def _for_hours(alert: Alert) -> int:
    return alert.for_hours if alert.for_hours is not None else 1


def _labels(alert: Alert, shop: str) -> dict[str, str]:
    return {**alert.labels, "alertname": alert.alertname, "severity": alert.severity, "shop": shop}


def _silenced(labels: Mapping[str, str], silences: list[Silence]) -> bool:
    return any(s.matches(labels) for s in silences)


def _fire(
    alert: Alert,
    state: _State | None,
    hour: datetime,
    settings: AlertSettings,
    silences: list[Silence],
) -> _Change | None:
    labels = _labels(alert, settings.shop.name)
    silenced = _silenced(labels, silences)
    new_episode = state is None or state.status not in _OPEN
    active_since = hour if new_episode or state is None else state.active_since
    notified_hour = None if new_episode or state is None else state.notified_hour
    notified_severity = None if new_episode or state is None else state.notified_severity
    ready = hour - active_since >= timedelta(hours=_for_hours(alert) - 1)
    status = "firing" if ready else "pending"
    notice = None
    if status == "firing" and not silenced:
        if notified_hour is None:
            notice = "firing"
        elif _RANK[alert.severity] > _RANK.get(notified_severity or "info", 0):
            notice = "escalated"
        elif hour - notified_hour >= timedelta(hours=settings.alerting.repeat_interval_hours):
            notice = "repeat"
    if notice is not None:
        notified_hour, notified_severity = hour, alert.severity
    new = _State(
        fingerprint=alert.fingerprint,
        alertname=alert.alertname,
        status=status,
        severity=alert.severity,
        labels=labels,
        annotations=dict(alert.annotations),
        impact=float(alert.impact),
        active_since=active_since,
        last_fired_hour=hour,
        last_eval_hour=hour,
        notified_hour=notified_hour,
        notified_severity=notified_severity,
        ends_at=None,
        silenced=silenced,
    )
    if state == new:
        return None
    logged = (
        state is None
        or new_episode
        or notice is not None
        or (state.status, state.severity, state.silenced) != (status, alert.severity, silenced)
    )
    return _Change(new, hour, notice, logged)


def _clear(
    state: _State, hour: datetime, settings: AlertSettings, silences: list[Silence]
) -> _Change:
    silenced = _silenced(state.labels, silences)
    if state.status == "pending":
        new = replace(
            state, status="inactive", last_eval_hour=hour, ends_at=hour, silenced=silenced
        )
        return _Change(new, hour, None)
    # the end of the last hour it fired; a same-hour re-evaluation that retracts it ends at `hour`
    ends_at = min(state.last_fired_hour + timedelta(hours=1), hour)
    ends_at = max(ends_at, state.active_since)
    notice = None
    if settings.alerting.send_resolved and state.notified_hour is not None and not silenced:
        notice = "resolved"
    new = replace(state, status="resolved", last_eval_hour=hour, ends_at=ends_at, silenced=silenced)
    return _Change(new, hour, notice)


def _message_alert(change: _Change) -> MessageAlert:
    state = change.state
    return MessageAlert(
        status="resolved" if change.notice == "resolved" else "firing",
        notice=change.notice or "",
        labels=state.labels,
        annotations=state.annotations,
        starts_at=state.active_since,
        ends_at=state.ends_at if change.notice == "resolved" else None,
        fingerprint=state.fingerprint,
        hour=change.hour,
        impact=state.impact,
    )


def _delivery_id() -> str:
    # unique per decision: re-processing an hour decides nothing twice, so it queues nothing,
    # while an alert retracted and raised again within one hour still gets a new message
    return uuid.uuid4().hex[:24]


def _messages(changes: list[_Change], hour: datetime, settings: AlertSettings) -> list[Message]:
    names = [c.name for c in settings.channels]
    by_channel: dict[str, list[MessageAlert]] = {}
    for change in changes:
        if not change.notice:
            continue
        alert = _message_alert(change)
        for channel in select_channels(alert.labels, settings.routes, names):
            by_channel.setdefault(channel, []).append(alert)
    return [
        Message(
            delivery_id=_delivery_id(),
            receiver=channel,
            shop=settings.shop.name,
            hour=hour,
            alerts=tuple(alerts),
        )
        for channel, alerts in by_channel.items()
    ]


def process(
    warehouse: AlertStore,
    settings: AlertSettings,
    hour: datetime,
    firing: list[Alert],
    evaluated: set[str] | None = None,
    *,
    mode: Literal["record", "deliver"] = "deliver",
    now: datetime | None = None,
) -> ProcessResult:
    """Record the alert states for evaluated `hour` and, in `deliver` mode, queue the messages.

    `firing`: the alerts the rules raised for `hour`. `evaluated`: the alertnames whose rules
    ran for `hour` (None = all), so an open alert of a rule that ran and did not fire
    resolves. `record` mode makes the same decisions but queues nothing (a backfill that
    must not send); its notices are kept in `ops.alerts.notify` with mode `record`.
    Re-processing an hour with the same alerts writes and queues nothing new; an hour older
    than a fingerprint's latest evaluated hour does not change that fingerprint.
    """
    if mode not in ("record", "deliver"):
        raise InvalidAlertError(f"alerts mode must be record or deliver, not {mode!r}")
    hour = _utc(hour, "evaluated hour")
    at = _utc(now, "now") if now is not None else datetime.now(UTC)
    alerts = _dedupe(firing, hour)
    # an alert may hold back others in the same hour (a data gap is never a business drop):
    # the held-back rules neither fire nor resolve for it
    inhibited = frozenset().union(*(a.inhibits for a in alerts.values()))
    alerts = {fp: a for fp, a in alerts.items() if a.alertname not in inhibited}

    def ran(alertname: str) -> bool:
        return (evaluated is None or alertname in evaluated) and alertname not in inhibited

    states = _load_states(warehouse, sorted(alerts))
    silences = active_silences(warehouse, at)
    changes: list[_Change] = []
    for fp in sorted(set(alerts) | set(states)):
        state = states.get(fp)
        if state is not None and hour < state.last_eval_hour:
            continue
        alert = alerts.get(fp)
        if alert is not None:
            change = _fire(alert, state, hour, settings, silences)
        elif state is not None and state.status in _OPEN and ran(state.alertname):
            change = _clear(state, hour, settings, silences)
        else:
            change = None
        if change is not None:
            changes.append(change)

    messages = _messages(changes, hour, settings) if mode == "deliver" else []
    logged = [c for c in changes if c.logged]
    with warehouse.transaction() as con:
        if logged:
            con.executemany(
                "insert into ops.alerts (fingerprint, alertname, status, severity, labels,"
                " annotations, hour, starts_at, ends_at, silenced, impact, notify, mode,"
                " recorded_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    [
                        c.state.fingerprint,
                        c.state.alertname,
                        c.state.status,
                        c.state.severity,
                        json.dumps(c.state.labels, ensure_ascii=False, sort_keys=True),
                        json.dumps(c.state.annotations, ensure_ascii=False, sort_keys=True),
                        c.hour,
                        c.state.active_since,
                        c.state.ends_at,
                        c.state.silenced,
                        c.state.impact,
                        c.notice,
                        mode,
                        at,
                    ]
                    for c in logged
                ],
            )
        if changes:
            con.executemany(
                f"insert or replace into ops.alert_state ({', '.join(_STATE_COLUMNS)}, updated_at)"
                f" values ({', '.join('?' for _ in _STATE_COLUMNS)}, ?)",
                [[*c.state.row(), at] for c in changes],
            )
        for message in messages:
            con.execute(
                "insert into ops.deliveries (delivery_id, channel, group_key, payload,"
                " state, attempts, hour, fingerprints, created_at)"
                " values (?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
                [
                    message.delivery_id,
                    message.receiver,
                    message.group_key,
                    json.dumps(message.to_payload(), ensure_ascii=False),
                    hour,
                    [a.fingerprint for a in message.alerts],
                    at,
                ],
            )

    def having(*statuses: str) -> tuple[str, ...]:
        return tuple(c.state.fingerprint for c in changes if c.state.status in statuses)

    after = {**states, **{c.state.fingerprint: c.state for c in changes}}
    return ProcessResult(
        hour=hour,
        mode=mode,
        changes=len(logged),
        firing=tuple(sorted(fp for fp, s in after.items() if s.status == "firing")),
        pending=tuple(sorted(fp for fp, s in after.items() if s.status == "pending")),
        resolved=having("resolved"),
        notified=tuple(c.state.fingerprint for c in changes if c.notice),
        silenced=tuple(
            c.state.fingerprint for c in changes if c.state.silenced and c.state.status == "firing"
        ),
        deliveries=tuple(m.delivery_id for m in messages),
    )
