"""Exports downloaded by hand: <path>/<dataset>/*.jsonl|*.csv|*.parquet, read by DuckDB."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sources.base import ALL_DATASETS, FilePage
from sources.settings import SourceSettings

__all__ = ["FILE_FORMATS", "FileSource"]

FILE_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


class FileSource:
    """Exports downloaded by hand: <path>/<dataset>/*.jsonl|*.csv|*.parquet."""

    provides = ALL_DATASETS

    def __init__(self, settings: SourceSettings) -> None:
        assert settings.path is not None
        self.root = settings.path
        self.name = str(self.root)

    def close(self) -> None:
        pass

    def pages(self, dataset: str, since: datetime | None, until: datetime) -> Iterator[FilePage]:
        """Every file of the dataset's folder, in name order; the loader filters the window."""
        folder = self.root / dataset
        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            fmt = FILE_FORMATS.get(path.suffix.lower())
            if fmt is not None and path.is_file():
                yield FilePage(path=path, format=fmt)
