"""Errors of the taobao source, each naming the TOP method and codes (never the secret/session)."""

from __future__ import annotations

from sources.errors import ExportFatalError, ExportTransientError, SourceError

__all__ = ["SycmFileError", "TopAuthError", "TopCallError", "TopLimitError"]


class TopCallError(ExportFatalError):
    """The gateway answered with an error_response that retrying cannot fix."""

    def __init__(
        self, message: str, *, dataset: str, source: str, code: int | None, sub_code: str | None
    ) -> None:
        super().__init__(message, dataset=dataset, source=source)
        self.code = code
        self.sub_code = sub_code


class TopAuthError(TopCallError):
    """The session expired or the app lacks a permission: the seller must re-authorise."""


class TopLimitError(ExportTransientError):
    """The app's call limit held for longer than we wait, or kept returning after each wait."""


class SycmFileError(SourceError):
    """A 生意参谋 export file could not be read; it is quarantined with this reason."""
