"""Alerts: rule results to messages that arrive once, in the team's tool and language.

`process` records an evaluated hour's alert states and queues messages in the outbox,
`flush` sends them, `dispatch` does both; silences and `alert_rows` back the CLI.
"""

from __future__ import annotations

from alerts.dispatch import DispatchResult, dispatch
from alerts.errors import (
    AlertError,
    ChannelConfigError,
    DeliveryError,
    InvalidAlertError,
    RouteError,
    SilenceError,
    TemplateError,
)
from alerts.lifecycle import ProcessResult, process
from alerts.model import Alert
from alerts.outbox import FlushResult, flush
from alerts.silences import (
    add_silence,
    list_silences,
    parse_duration,
    parse_matchers,
    remove_silence,
)
from alerts.status import alert_rows, delivery_rows

__all__ = [
    "Alert",
    "AlertError",
    "ChannelConfigError",
    "DeliveryError",
    "DispatchResult",
    "FlushResult",
    "InvalidAlertError",
    "ProcessResult",
    "RouteError",
    "SilenceError",
    "TemplateError",
    "add_silence",
    "alert_rows",
    "delivery_rows",
    "dispatch",
    "flush",
    "list_silences",
    "parse_duration",
    "parse_matchers",
    "process",
    "remove_silence",
]
