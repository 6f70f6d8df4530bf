"""The exports folder: each file read once (by content hash), the unreadable quarantined.

<exports_dir>/                 files dropped by the seller, in any sub-folder
<exports_dir>/.shoppulse/      manifest.json and one <sha256>.jsonl of records per file read
<exports_dir>/quarantine/      files that could not be read, each with <name>.reason.txt
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from filelock import FileLock

from sources.base import FilePage
from sources.taobao.errors import SycmFileError
from sources.taobao.promotions import is_promotions_file, read_promotions
from sources.taobao.sycm import EXCEL, TEXT, parse_export

__all__ = ["QUARANTINE", "STATE", "ExportFolder"]

STATE = ".shoppulse"
QUARANTINE = "quarantine"
log = logging.getLogger(__name__)


class ExportFolder:
    """The 生意参谋 exports and the promotions file a seller drops into `exports_dir`."""

    def __init__(self, root: Path, headers: Mapping[str, str], sources: Mapping[str, str]) -> None:
        self.root = root
        self.headers = headers
        self.sources = sources
        self.state = root / STATE
        self.manifest_path = self.state / "manifest.json"
        self.quarantined: list[str] = []

    def pages(self, dataset: str) -> Iterator[FilePage]:
        """Each file read for `dataset`, as its cached records, oldest first (newer win)."""
        manifest = self.scan()
        for digest, entry in manifest.items():
            if entry["dataset"] == dataset and entry["rows"]:
                yield FilePage(path=self.state / f"{digest}.jsonl", format="jsonl")

    def scan(self) -> dict[str, dict[str, Any]]:
        """Read every new file into the cache; quarantine the ones that cannot be read.

        Backfill chunks scan side by side (threads or processes): one scans at a time.
        """
        if not self.root.is_dir():
            return {}
        self.state.mkdir(parents=True, exist_ok=True)
        with FileLock(self.state / "scan.lock"):
            return self._scan()

    def _scan(self) -> dict[str, dict[str, Any]]:
        manifest = self._manifest()
        changed = False
        for path in self._files():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in manifest:
                continue  # this content was read before, under this name or another
            try:
                dataset, records = self._read(path)
            except SycmFileError as exc:
                self._quarantine(path, str(exc))
                continue
            self.state.mkdir(parents=True, exist_ok=True)
            with (self.state / f"{digest}.jsonl").open("wb") as out:
                for record in records:
                    out.write(orjson.dumps(record) + b"\n")
            manifest[digest] = {
                "file": str(path.relative_to(self.root)),
                "dataset": dataset,
                "rows": len(records),
                "read_at": datetime.now(UTC).isoformat(),
            }
            changed = True
        if changed:
            self._write_manifest(manifest)
        return manifest

    def _read(self, path: Path) -> tuple[str, list[dict[str, Any]]]:
        if is_promotions_file(path):
            return "promotions", read_promotions(path)
        table = parse_export(path, self.headers, self.sources)
        return table.dataset, table.records

    def _files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.rglob("*"):
            parts = path.relative_to(self.root).parts
            if parts[0] in (STATE, QUARANTINE) or path.name.startswith((".", "~$")):
                continue
            if path.is_file() and path.suffix.lower() in EXCEL + TEXT:
                found.append(path)
        return sorted(found, key=_age)

    def _quarantine(self, path: Path, reason: str) -> None:
        target = self.root / QUARANTINE / path.relative_to(self.root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
        message = f"{path.relative_to(self.root)}: quarantined ({reason})"
        self.quarantined.append(message)
        log.warning("%s: %s", self.root, message)

    def _manifest(self) -> dict[str, dict[str, Any]]:
        if not self.manifest_path.is_file():
            return {}
        loaded: dict[str, dict[str, Any]] = orjson.loads(self.manifest_path.read_bytes())
        # a cache file removed by hand is read again from its export
        return {d: e for d, e in loaded.items() if (self.state / f"{d}.jsonl").is_file()}

    def _write_manifest(self, manifest: dict[str, dict[str, Any]]) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        tmp.replace(self.manifest_path)


def _age(path: Path) -> tuple[float, str]:
    return (path.stat().st_mtime, path.name)
