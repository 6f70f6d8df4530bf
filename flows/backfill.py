"""The backfill flow: chunks extract on a Prefect task runner, the flow's thread writes.

Threads by default (`workers`); prefect-dask's DaskTaskRunner when `dask_address` names a
scheduler. Task runs: one `extract-chunk` and one `load-chunk` per chunk, whatever the hours
in it. The plain functions it wires are in `flows.rebuild`, `flows.chunks` and
`flows.warehouse.writer`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from flows.chunks import Chunk, StagedChunk, extract_chunk
from flows.rebuild import (
    AlertMode,
    Progress,
    backfill_shop,
    crashed,
    failure_message,
    make_request,
    progress_listener,
)
from flows.report import (
    create_progress,
    failure_artifact,
    publish_backfill_artifacts,
    update_progress,
)
from flows.secrets import run_env
from flows.settings import Settings, load_settings, shop_label
from flows.warehouse import Warehouse
from flows.warehouse.writer import ChunkOutcome, Hook, load_chunk

__all__ = ["backfill", "backfill_summary", "extract_chunk_task", "load_chunk_task", "task_runner"]


@task(name="extract-chunk", task_run_name="extract-{chunk.key}", cache_policy=NO_CACHE)
def extract_chunk_task(settings: Settings, chunk: Chunk, staging: str) -> StagedChunk | State:
    """Extract and type one chunk; a chunk whose export failed ends Failed, carrying why."""
    staged = extract_chunk(settings, chunk, Path(staging))
    if staged.error:
        return Failed(message=f"{staged.failed_dataset}: {staged.error}", data=staged)
    return staged


@task(name="load-chunk", task_run_name="load-{staged.chunk.key}", cache_policy=NO_CACHE)
def load_chunk_task(
    wh: Warehouse,
    settings: Settings,
    staged: StagedChunk,
    backfill_id: str,
    alerts: str,
    hook: Hook | None,
) -> ChunkOutcome:
    return load_chunk(wh, settings, staged, backfill_id, alerts, hook)


def _load_with_task(
    wh: Warehouse,
    settings: Settings,
    staged: StagedChunk,
    backfill_id: str,
    alerts: str,
    hook: Hook | None,
) -> ChunkOutcome:
    return load_chunk_task(wh, settings, staged, backfill_id, alerts, hook)


class _RunnerExecutor:
    """Chunks as `extract-chunk` task runs on a Prefect task runner (threads or Dask)."""

    def __init__(self, runner: Any, settings: Settings, staging: Path, window: int) -> None:
        self.runner, self.settings, self.staging, self.window = runner, settings, staging, window

    def submit(self, chunk: Chunk) -> Callable[[], StagedChunk]:
        future = self.runner.submit(
            extract_chunk_task,
            {"settings": self.settings, "chunk": chunk, "staging": str(self.staging)},
        )

        def wait() -> StagedChunk:
            value = future.result(raise_on_failure=False)
            if isinstance(value, StagedChunk):
                return value
            return crashed(chunk, value)

        return wait


def task_runner(workers: int, dask_address: str | None) -> Any:
    """Threads by default; prefect-dask's DaskTaskRunner on the scheduler at `dask_address`."""
    if dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=dask_address)
    return ThreadPoolTaskRunner(max_workers=workers)


@flow(name="backfill", log_prints=True)
def backfill(
    start: str,
    end: str,
    config: str = "shoppulse.yaml",
    alerts: AlertMode = "off",
    chunk_hours: int = 24,
    workers: int = 4,
    dask_address: str | None = None,
    resume: bool = False,
    staging: str | None = None,
) -> dict[str, Any] | State:
    """Rebuild [start, end) of a shop's history: chunks extract in parallel, one writer loads.

    `start`/`end` are ISO times (no offset: the shop's clock); `alerts` off | record |
    deliver; `dask_address` a Dask scheduler to extract on instead of `workers` threads;
    `resume` skips chunks an earlier backfill loaded; `staging` is where chunks are staged
    (default beside the warehouse; Dask workers on other machines need a shared folder).
    """
    # a config or request that fails (a missing secret, a bad range) leaves a failure artifact
    with failure_artifact(shop_label(config), "backfill"):
        settings = load_settings(config, env=run_env())
        request = make_request(
            settings, start, end, alerts=alerts, chunk_hours=chunk_hours, resume=resume
        )
        window = max(1, workers) + 1
        with task_runner(max(1, workers), dask_address) as runner, _progress_artifact(settings):
            summary = backfill_shop(
                settings,
                request,
                lambda folder: _RunnerExecutor(runner, settings, folder, window),
                load=_load_with_task,
                staging=Path(staging) if staging else None,
            )
    publish_backfill_artifacts(summary)
    if summary["failed"]:
        return Failed(message=failure_message(summary), data=summary)
    return summary


def backfill_summary(**parameters: Any) -> dict[str, Any]:
    """Run the backfill flow and return its summary, that of a run ending Failed (a chunk
    failed) too; an error that left no summary is raised."""
    state = backfill(**parameters, return_state=True)
    value = state.result(raise_on_failure=False)
    if isinstance(value, BaseException):
        raise value
    assert isinstance(value, dict)
    return value


@contextmanager
def _progress_artifact(settings: Settings) -> Iterator[None]:
    """Mirror this shop's progress into a Prefect progress artifact while the block runs."""
    artifact = create_progress(settings.shop.name)

    def listener(event: Progress) -> None:
        if artifact is not None and event.shop == settings.shop.name and event.total:
            update_progress(artifact, 100.0 * event.done / event.total)

    with progress_listener(listener):
        yield
