"""Where a shop's exports come from: one module per source kind behind `ExportSource`."""

from __future__ import annotations

from sources.base import ALL_DATASETS, DATASETS, ExportSource, FilePage, JsonPage, Page
from sources.errors import ExportError, ExportFatalError, ExportTransientError, SourceError
from sources.files import FileSource
from sources.http import HttpSource
from sources.readahead import ReadAhead
from sources.settings import SourceSettings

__all__ = [
    "ALL_DATASETS",
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
    "ReadAhead",
    "SourceError",
    "SourceSettings",
    "make_source",
    "provided",
]


def provided(settings: SourceSettings) -> frozenset[str]:
    """The datasets a source of this kind can read; the rest are not provided by it."""
    if settings.kind == "shopify":
        from sources.shopify import PROVIDES

        return PROVIDES
    return ALL_DATASETS


def make_source(settings: SourceSettings, **kwargs: object) -> ExportSource:
    """The export source the settings name (`source.kind`)."""
    if settings.kind == "files":
        return FileSource(settings)
    if settings.kind == "shopify":
        from sources.shopify import ShopifySource

        return ShopifySource(settings, **kwargs)  # type: ignore[arg-type]
    if settings.kind == "taobao":
        from sources.taobao import TaobaoSource

        return TaobaoSource(settings, **kwargs)  # type: ignore[arg-type]
    return HttpSource(settings, **kwargs)  # type: ignore[arg-type]
