"""Errors raised while reading a shop's exports, each naming what failed (never a secret)."""

from __future__ import annotations

__all__ = ["ExportError", "ExportFatalError", "ExportTransientError", "SourceError"]


class SourceError(Exception):
    """Base class for expected failures of a source: the CLI prints the message, not a trace."""


class ExportError(SourceError):
    """An export could not be read from the shop backend."""

    def __init__(self, message: str, *, dataset: str, source: str) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.source = source


class ExportFatalError(ExportError):
    """The backend refused the request (401/400/404): retrying cannot help."""


class ExportTransientError(ExportError):
    """The backend kept failing (429/5xx/timeouts) after every allowed retry."""
