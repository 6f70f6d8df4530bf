"""Where a shop's exports come from: one module per source kind behind `ExportSource`."""

from __future__ import annotations

from sources.base import DATASETS, ExportSource, FilePage, JsonPage, Page
from sources.errors import ExportError, ExportFatalError, ExportTransientError, SourceError
from sources.files import FileSource
from sources.http import HttpSource
from sources.settings import SourceSettings

__all__ = [
    "DATASETS",
    "ExportError",
    "ExportFatalError",
    "ExportSource",
    "ExportTransientError",
    "FilePage",
    "FileSource",
    "HttpSource",
    "JsonPage",
    "Page",
    "SourceError",
    "SourceSettings",
    "make_source",
]


def make_source(settings: SourceSettings, **kwargs: object) -> ExportSource:
    """The export source the settings name (`source.kind`)."""
    if settings.kind == "files":
        return FileSource(settings)
    if settings.kind == "taobao":
        from sources.taobao import TaobaoSource

        return TaobaoSource(settings, **kwargs)  # type: ignore[arg-type]
    return HttpSource(settings, **kwargs)  # type: ignore[arg-type]
