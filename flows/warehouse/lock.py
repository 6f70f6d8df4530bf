"""One writer per warehouse: a Prefect concurrency slot where a server is present, a file lock
underneath, and one clear error when the warehouse stays busy."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from flows.errors import WarehouseBusyError
from flows.warehouse import Warehouse, warehouse_holder, writer_lock

if TYPE_CHECKING:
    from flows.settings import Settings

__all__ = ["limit_name", "warehouse_holder", "warehouse_writer", "writing"]


def limit_name(path: Path) -> str:
    """The Prefect global concurrency limit that stands for one warehouse file."""
    resolved = path.resolve()
    stem = re.sub(r"[^a-z0-9-]+", "-", resolved.stem.lower()).strip("-") or "warehouse"
    digest = hashlib.sha1(str(resolved).encode("utf-8")).hexdigest()[:10]
    return f"shoppulse-warehouse-{stem}-{digest}"


def _run_holder() -> object | None:
    """The current flow run as a lease holder, when running inside one."""
    from prefect.client.schemas.objects import ConcurrencyLeaseHolder
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None
    return ConcurrencyLeaseHolder(type="flow_run", id=context.flow_run.id)


def _ensure_limit(name: str) -> None:
    # Prefect 3.9's `concurrency()` has no create-if-missing switch (with strict=False a
    # missing limit is skipped with a warning), so the limit is made first, with one slot.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
            return
        except ObjectNotFound:
            pass
        with suppress(ObjectAlreadyExists):  # another run made it first
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))


class _QuietSlotTimeout(logging.Filter):
    """Drop Prefect's internal error log for a slot wait that timed out: we report it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("ConcurrencySlotAcquisition" in message and "TimeoutError" in message)


_quiet = _QuietSlotTimeout()


@contextmanager
def _prefect_slot(path: Path, timeout: float) -> Iterator[None]:
    from prefect.concurrency.sync import concurrency

    name = limit_name(path)
    _ensure_limit(name)
    log = logging.getLogger("prefect._internal.concurrency")
    log.addFilter(_quiet)
    try:
        with concurrency(
            name,
            occupy=1,
            timeout_seconds=timeout,
            strict=True,
            holder=_run_holder(),  # type: ignore[arg-type]
        ):
            yield
    except TimeoutError:
        raise WarehouseBusyError(
            f"warehouse {path} is busy: {warehouse_holder(path)} is writing to it;"
            f" waited {timeout:.0f}s for Prefect concurrency limit {name}"
            " (try again when it finishes, or raise warehouse.lock_timeout_seconds)"
        ) from None
    finally:
        log.removeFilter(_quiet)


def _in_prefect_run() -> bool:
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


@contextmanager
def warehouse_writer(path: Path, *, timeout: float, holder: str) -> Iterator[None]:
    """Be the warehouse's only writer for the block, waiting at most `timeout` seconds in all.

    Inside a Prefect run the wait is on a global concurrency limit named after the warehouse
    (`limit_name`), so the UI shows who holds it and who queues; the file lock underneath
    holds whether or not a server is there. A run that cannot get in raises
    WarehouseBusyError naming the run that holds the warehouse.
    """
    deadline = time.monotonic() + timeout
    with ExitStack() as stack:
        if _in_prefect_run():
            stack.enter_context(_prefect_slot(path, timeout))
        remaining = max(0.0, deadline - time.monotonic())
        stack.enter_context(writer_lock(path, timeout=remaining, holder=holder))
        yield


@contextmanager
def writing(settings: Settings, holder: str) -> Iterator[Warehouse]:
    """The shop's warehouse, open for writing as its only writer (`warehouse_writer`, waiting
    at most `warehouse.lock_timeout_seconds`); `holder` is what a waiting run is told."""
    path = settings.warehouse.path
    with (
        warehouse_writer(path, timeout=settings.warehouse.lock_timeout_seconds, holder=holder),
        Warehouse(path, memory_limit=settings.warehouse.memory_limit) as wh,
    ):
        yield wh
