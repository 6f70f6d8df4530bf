"""What every source hands the loader: pages of one dataset, behind one protocol."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

__all__ = [
    "ALL_DATASETS",
    "DATASETS",
    "SERVICE_DATASETS",
    "ExportSource",
    "FilePage",
    "JsonPage",
    "Page",
]

DATASETS = (
    "products",
    "promotions",
    "orders",
    "traffic",
    "inventory",
    "keywords",
    "service_chats",
    "reviews",
    "shipments",
)
ALL_DATASETS = frozenset(DATASETS)
# customer service, reviews and shipping: what a platform source may not map (yet)
SERVICE_DATASETS = frozenset({"service_chats", "reviews", "shipments"})


@dataclass(frozen=True)
class JsonPage:
    """One page of the export API: the body's JSON text, with its item count."""

    text: str
    count: int


@dataclass(frozen=True)
class FilePage:
    """One exported file, read by DuckDB's own reader."""

    path: Path
    format: str


Page = JsonPage | FilePage


class ExportSource(Protocol):
    """Where exports come from; yields pages of one dataset for a window."""

    name: str
    provides: frozenset[str]
    """The datasets this source can read; the rest are "not provided by this source"."""

    def pages(self, dataset: str, since: datetime | None, until: datetime) -> Iterator[Page]: ...

    def close(self) -> None: ...
