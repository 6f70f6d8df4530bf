"""Errors raised by shoppulse's flows, each naming what failed (never a secret)."""

from __future__ import annotations

from alerts.errors import AlertError
from sources.errors import ExportError, ExportFatalError, ExportTransientError, SourceError

__all__ = [
    "EXPECTED_ERRORS",
    "BackfillError",
    "ConfigError",
    "DeployError",
    "ExportError",
    "ExportFatalError",
    "ExportTransientError",
    "RegistrationFailedError",
    "RegistrationSheetError",
    "ShoppulseError",
    "WarehouseBusyError",
]


class ShoppulseError(Exception):
    """Base class for expected failures of the flows: the CLI prints the message, not a trace."""


class ConfigError(ShoppulseError):
    """The configuration file is missing, malformed or names an unknown key or bad value."""


class DeployError(ShoppulseError):
    """Deployments could not be created: no Prefect server configured, or no such work pool."""


class WarehouseBusyError(ShoppulseError):
    """Another run holds the warehouse's single-writer lock."""


class BackfillError(ShoppulseError):
    """A backfill could not run, or some of its chunks failed (they are named; rerun them)."""


class RegistrationSheetError(ShoppulseError):
    """A registration sheet cannot be read, lacks a column, or has an unreadable value."""


class RegistrationFailedError(ShoppulseError):
    """A registration checklist found failing checks (they are listed before this)."""


# every package's expected failures: printed as one line, never as a traceback
EXPECTED_ERRORS: tuple[type[Exception], ...] = (ShoppulseError, SourceError, AlertError)
