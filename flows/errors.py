"""Errors raised by shoppulse's flows, each naming what failed (never a secret)."""

from __future__ import annotations

from typing import Any

from alerts.errors import AlertError
from sources.errors import ExportError, ExportFatalError, ExportTransientError, SourceError

__all__ = [
    "EXIT_ERROR",
    "EXIT_NOTHING_LOADED",
    "EXIT_PARTIAL",
    "EXPECTED_ERRORS",
    "BackfillError",
    "ConfigError",
    "DeployError",
    "ExportError",
    "ExportFatalError",
    "ExportTransientError",
    "RegistrationFailedError",
    "RegistrationSheetError",
    "RunIncompleteError",
    "ShoppulseError",
    "WarehouseBusyError",
    "WarehouseError",
]


# exit statuses of the CLI (README, "Command line"); 2 is a usage error, 130 Ctrl-C
EXIT_ERROR = 1  # the command could not do its work: bad config, busy warehouse, crash
EXIT_PARTIAL = 3  # the run committed what loaded and sent its alerts, but data is missing
EXIT_NOTHING_LOADED = 4  # the run recorded itself and sent its alerts, but every export failed


class ShoppulseError(Exception):
    """Base class for expected failures of the flows: the CLI prints the message, not a trace."""

    exit_code: int = EXIT_ERROR


class ConfigError(ShoppulseError):
    """The configuration file is missing, malformed or names an unknown key or bad value."""


class DeployError(ShoppulseError):
    """Deployments could not be created: no Prefect server configured, or no such work pool."""


class WarehouseBusyError(ShoppulseError):
    """Another run holds the warehouse's single-writer lock."""


class WarehouseError(ShoppulseError):
    """The warehouse file cannot be opened or written (disk full, read-only path, bad file)."""


class BackfillError(ShoppulseError):
    """A backfill could not run, or some of its chunks failed (they are named; rerun them)."""


class RegistrationSheetError(ShoppulseError):
    """A registration sheet cannot be read, lacks a column, or has an unreadable value."""


class RegistrationFailedError(ShoppulseError):
    """A registration checklist found failing checks (they are listed before this)."""


class RunIncompleteError(ShoppulseError):
    """A run ended with an export failed or data missing; what loaded is committed."""

    def __init__(self, message: str, summary: dict[str, Any], exit_code: int) -> None:
        super().__init__(message)
        self.summary = summary
        self.exit_code = exit_code

    def __reduce__(self) -> tuple[Any, ...]:
        # Prefect may pickle a failed run's exception: keep the summary and the code
        return (type(self), (str(self), self.summary, self.exit_code))


# every package's expected failures: printed as one line, never as a traceback
EXPECTED_ERRORS: tuple[type[Exception], ...] = (ShoppulseError, SourceError, AlertError)
