"""The warehouse: one DuckDB file per shop, its DDL from sql/, and its single-writer lock."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import filelock
import polars as pl

from flows.errors import WarehouseBusyError, WarehouseError

__all__ = ["SQL_DIR", "Warehouse", "read_sql", "warehouse_holder", "writer_lock"]

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
# how DuckDB words a write the file system refused
_WRITE_FAILURES = ("Could not write", "No space left", "File too large", "Read-only file system")
# how DuckDB's client answers Ctrl-C during a query (a RuntimeError, not a KeyboardInterrupt)
_INTERRUPTED = "Query interrupted"


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def read_sql(name: str) -> str:
    """The text of one model in sql/, e.g. read_sql('staging/stg_orders')."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def _owner_file(path: Path) -> Path:
    return Path(str(path) + ".owner")


def warehouse_holder(path: Path) -> str:
    """Who holds the warehouse's writer lock, as the holder wrote it, or 'another run'."""
    try:
        return _owner_file(path).read_text(encoding="utf-8").strip() or "another run"
    except FileNotFoundError:
        return "another run"


@contextmanager
def writer_lock(path: Path, *, timeout: float, holder: str) -> Iterator[None]:
    """Hold the warehouse's single-writer lock; wait up to `timeout` seconds, then fail clearly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(path) + ".lock")
    owner = _owner_file(path)
    try:
        lock.acquire(timeout=timeout)
    except filelock.Timeout:
        raise WarehouseBusyError(
            f"warehouse {path} is busy: {warehouse_holder(path)} is writing to it;"
            f" waited {timeout:.0f}s"
            " (try again when it finishes, or raise warehouse.lock_timeout_seconds)"
        ) from None
    try:
        owner.write_text(
            f"{holder} (pid {os.getpid()} on {socket.gethostname()},"
            f" since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ})",
            encoding="utf-8",
        )
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()


@contextmanager
def _interrupts() -> Iterator[None]:
    """Ctrl-C during a query stops the command as Ctrl-C does anywhere else."""
    try:
        yield
    except RuntimeError as exc:
        if str(exc) == _INTERRUPTED:
            raise KeyboardInterrupt from None
        raise


@functools.cache
def _ddl() -> tuple[tuple[str, ...], str]:
    """The numbered sql/NNN_*.sql files' texts in order, and one digest of them all."""
    texts = tuple(
        file.read_text(encoding="utf-8") for file in sorted(SQL_DIR.glob("[0-9][0-9][0-9]_*.sql"))
    )
    return texts, hashlib.sha256("\0".join(texts).encode()).hexdigest()


class Warehouse:
    """A connection to one shop's DuckDB file, with the schema applied."""

    def __init__(
        self, path: Path | str, *, read_only: bool = False, memory_limit: str | None = None
    ) -> None:
        self.path = Path(path)
        # DuckDB's memory limit (warehouse.memory_limit): None keeps DuckDB's default
        self._config: dict[str, str | bool | int | float | list[str]] = (
            {"memory_limit": memory_limit} if memory_limit else {}
        )
        if read_only and not self.path.exists():
            raise WarehouseBusyError(
                f"warehouse {self.path} does not exist yet (run shoppulse run)"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = self._connect(read_only)
        self.con.execute("set TimeZone = 'UTC'")
        if not read_only:
            self.apply_ddl()

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + 30
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only, config=self._config)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise WarehouseError(
                        f"cannot open warehouse {self.path}: {_first_line(exc)}"
                    ) from None
                if time.monotonic() > deadline:
                    raise WarehouseBusyError(
                        f"warehouse {self.path} is open in another process: {exc}"
                    ) from None
                time.sleep(0.5)

    def apply_ddl(self) -> None:
        """Apply every numbered sql/NNN_*.sql file in order (each is idempotent), unless this
        file already has them as they are now: their digest is kept in ops.schema_applied."""
        texts, digest = _ddl()
        if self._applied_ddl() == digest:
            return
        for text in texts:
            with self._writing():
                self.con.execute(text)
        with self._writing():
            self.con.execute("delete from ops.schema_applied")
            self.con.execute("insert into ops.schema_applied values (?, now())", [digest])

    def _applied_ddl(self) -> str | None:
        """The digest of the DDL last applied to this file, None before the first."""
        exists = self.rows(
            "select 1 from duckdb_tables() where schema_name = 'ops'"
            " and table_name = 'schema_applied'"
        )
        if not exists:
            return None
        found = self.rows("select digest from ops.schema_applied")
        return str(found[0][0]) if found else None

    def cursor(self) -> Warehouse:
        """A second connection to this open warehouse, for another thread: it has its own
        transactions and sees only what the others have committed."""
        other = copy.copy(self)
        other.con = self.con.cursor()
        other.con.execute("set TimeZone = 'UTC'")
        return other

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One atomic unit of work: everything inside commits together or not at all."""
        self.con.execute("begin transaction")
        try:
            yield self.con
        except BaseException:
            # a failed write may already have ended the transaction
            with suppress(duckdb.TransactionException):
                self.con.execute("rollback")
            raise
        with self._writing():
            self.con.execute("commit")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        # the disk is full or the file cannot grow: DuckDB keeps the last committed state
        try:
            with _interrupts():
                yield
        except duckdb.Error as exc:
            reason = _first_line(exc)
            if not any(s in reason for s in _WRITE_FAILURES):
                raise
            raise WarehouseError(
                f"cannot write warehouse {self.path}: {reason}; its last committed state is"
                " kept (free disk space or fix the path, then run again)"
            ) from None

    def execute(self, sql: str, params: Mapping[str, Any] | list[Any] | None = None) -> None:
        """Run a statement to completion."""
        with self._writing():
            self.con.execute(sql, params or {}).fetchall()

    def rows(self, sql: str, params: Mapping[str, Any] | list[Any] | None = None) -> list[Any]:
        with self._writing():
            return self.con.execute(sql, params or {}).fetchall()

    def frame(self, sql: str, params: Mapping[str, Any] | list[Any] | None = None) -> pl.DataFrame:
        """Run a query and return its result as a Polars frame (via Arrow, no Python rows)."""
        with _interrupts():
            table = self.con.sql(sql, params=params or None).to_arrow_table()
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def replace_rows(self, table: str, frame: pl.DataFrame, key: str, keys: pl.Series) -> None:
        """Delete the rows of `table` whose `key` is in `keys`, then insert `frame` (by name)."""
        self.con.register("_keys", pl.DataFrame({"k": keys}).to_arrow())
        self.con.register("_frame", frame.to_arrow())
        try:
            with _interrupts():
                delete = f"delete from {table} where {key} in (select k from _keys)"
                self.con.execute(delete).fetchall()
                if frame.height:
                    insert = f"insert into {table} by name select * from _frame"
                    self.con.execute(insert).fetchall()
        finally:
            self.con.unregister("_keys")
            self.con.unregister("_frame")

    def watermark(self, dataset: str) -> datetime | None:
        rows = self.rows("select watermark from ops.watermarks where dataset = ?", [dataset])
        return rows[0][0] if rows else None

    def set_watermark(self, dataset: str, value: datetime) -> None:
        self.execute(
            "insert or replace into ops.watermarks values (?, ?, current_timestamp)",
            [dataset, value],
        )

    def record_run(self, run: Mapping[str, Any]) -> None:
        """Insert or update one row of ops.runs."""
        values = dict(run)
        if isinstance(values.get("counts"), dict):
            values["counts"] = json.dumps(values["counts"], sort_keys=True)
        columns = ", ".join(values)
        placeholders = ", ".join("?" for _ in values)
        self.execute(
            f"insert or replace into ops.runs ({columns}) values ({placeholders})",
            list(values.values()),
        )
