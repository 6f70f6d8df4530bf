"""Errors raised while turning rule results into delivered messages (never carrying a secret)."""

from __future__ import annotations

__all__ = [
    "AlertError",
    "ChannelConfigError",
    "DeliveryError",
    "InvalidAlertError",
    "RouteError",
    "SilenceError",
    "TemplateError",
]


class AlertError(Exception):
    """Base class for failures in the alerts package."""


class InvalidAlertError(AlertError):
    """A rule produced an alert that breaks the model (unknown severity, naive hour, ...)."""


class RouteError(AlertError):
    """A route in the configuration cannot be applied (e.g. an invalid regular expression)."""


class SilenceError(AlertError):
    """A silence cannot be added or removed (no matchers, end in the past, unknown id)."""


class TemplateError(AlertError):
    """A message template is missing or failed to render; names the template."""


class DeliveryError(AlertError):
    """A channel did not accept a message; names the channel and its URL without query/token."""

    def __init__(self, message: str, *, channel: str) -> None:
        super().__init__(message)
        self.channel = channel


class ChannelConfigError(AlertError):
    """A channel's settings lack what its type needs (url, path, SMTP host, recipients)."""
