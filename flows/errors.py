"""Errors raised by shoppulse's flows, each naming what failed (never a secret)."""

from __future__ import annotations

__all__ = [
    "BackfillError",
    "ConfigError",
    "ExportError",
    "ExportFatalError",
    "ExportTransientError",
    "ShoppulseError",
    "WarehouseBusyError",
]


class ShoppulseError(Exception):
    """Base class for expected failures: the CLI prints the message, not a traceback."""


class ConfigError(ShoppulseError):
    """The configuration file is missing, malformed or names an unknown key or bad value."""


class ExportError(ShoppulseError):
    """An export could not be read from the shop backend."""

    def __init__(self, message: str, *, dataset: str, source: str) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.source = source


class ExportFatalError(ExportError):
    """The backend refused the request (401/400/404): retrying cannot help."""


class ExportTransientError(ExportError):
    """The backend kept failing (429/5xx/timeouts) after every allowed retry."""


class WarehouseBusyError(ShoppulseError):
    """Another run holds the warehouse's single-writer lock."""


class BackfillError(ShoppulseError):
    """A backfill could not run, or some of its chunks failed (they are named; rerun them)."""
