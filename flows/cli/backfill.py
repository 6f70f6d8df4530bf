"""`shoppulse backfill` for one shop or many: validate, list the chunks, run with a progress bar."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar
from rich.table import Table

from flows.chunks import plan_chunks
from flows.cli.options import DEFAULT_CONFIG, AlertsMode, ConfigsOption, app
from flows.errors import BackfillError
from flows.local_server import tie_temporary_server
from flows.rebuild import (
    BackfillRequest,
    Progress,
    failure_message,
    make_request,
    progress_listener,
)
from flows.secrets import secret_env
from flows.shops import Shop, load_shops, run_each, shop_problems
from flows.warehouse import Warehouse

__all__ = ["backfill", "backfill_command", "chunk_rows"]


def chunk_rows(shop: Shop, request: BackfillRequest) -> list[dict[str, Any]]:
    """The chunks a backfill would run, with what earlier backfills did with each."""
    tz = shop.settings.shop.tz
    chunks = plan_chunks(request.start, request.end, tz, request.chunk_hours)
    last: dict[Any, tuple[str, str | None]] = {}
    path = shop.settings.warehouse.path
    if path.exists():
        with Warehouse(path, read_only=True) as wh:
            try:
                rows = wh.rows(
                    "select chunk_start, chunk_end, status, error from ops.backfill_chunks"
                    " order by finished_at"
                )
            except duckdb.CatalogException:  # a warehouse from before backfills existed
                rows = []
        last = {(s, e): (status, error) for s, e, status, error in rows}
    return [
        {
            "shop": shop.name,
            "chunk": c.label(tz),
            "hours": c.hours,
            "last": last.get((c.start, c.end), ("new", None))[0],
            "error": last.get((c.start, c.end), ("new", None))[1],
        }
        for c in chunks
    ]


def _print_chunks(rows: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="backfill chunks (dry run)")
    for column in ("shop", "chunk", "hours", "last"):
        table.add_column(column)
    for row in rows:
        last = row["last"] if not row["error"] else f"{row['last']}: {row['error'][:60]}"
        table.add_row(row["shop"], row["chunk"], str(row["hours"]), last)
    console.print(table)


def backfill_command(
    configs: Sequence[Path],
    start: str,
    end: str,
    *,
    alerts: str = "off",
    workers: int = 4,
    dask: str | None = None,
    chunk_hours: int = 24,
    resume: bool = False,
    staging: Path | None = None,
    dry_run: bool = False,
    console: Console | None = None,
) -> list[dict[str, Any]]:
    """Backfill every shop (each its own flow run, side by side); raise naming what failed."""
    console = console or Console(stderr=True)
    # as in the flow runs: the environment, then Prefect Secret blocks for what it lacks
    shops = load_shops(configs, secret_env())
    requests = {
        shop.name: make_request(
            shop.settings, start, end, alerts=alerts, chunk_hours=chunk_hours, resume=resume
        )
        for shop in shops
    }
    if dry_run:
        rows = [row for shop in shops for row in chunk_rows(shop, requests[shop.name])]
        _print_chunks(rows, console)
        return rows
    # the flow runs, and Dask workers through the flow's serialized settings, report to the
    # command's own temporary server by its URL (unless an API is configured)
    tie_temporary_server()
    from flows.backfill import backfill_summary

    def one(shop: Shop) -> dict[str, Any]:
        return backfill_summary(
            start=start,
            end=end,
            config=str(shop.config),
            alerts=alerts,
            chunk_hours=chunk_hours,
            workers=workers,
            dask_address=dask,
            resume=resume,
            staging=str(staging) if staging else None,
        )

    bar = Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
    )
    tasks = {shop.name: bar.add_task(shop.name, total=None, last="") for shop in shops}

    def show(event: Progress) -> None:
        last = ""
        if event.outcome is not None:
            tz = next(s for s in shops if s.name == event.shop).settings.shop.tz
            last = f"{event.outcome.chunk.label(tz)} {event.outcome.status}"
        bar.update(tasks[event.shop], total=event.total, completed=event.done, last=last)

    with bar, progress_listener(show):
        results = run_each(shops, one)
    summaries = [r for _, r in results if isinstance(r, dict)]
    sys.stdout.write(
        json.dumps(summaries[0] if len(shops) == 1 and summaries else summaries, indent=2) + "\n"
    )
    problems = shop_problems(results, lambda r: failure_message(r) if r["failed"] else None)
    if problems:
        raise BackfillError(" | ".join(problems))
    return summaries


@app.command()
def backfill(
    start: Annotated[
        str, typer.Option(help="First hour to rebuild (ISO; no offset: shop time).", metavar="ISO")
    ],
    end: Annotated[str, typer.Option(help="End of the range, exclusive (ISO).", metavar="ISO")],
    config: ConfigsOption = None,
    alerts: Annotated[
        AlertsMode,
        typer.Option(
            help="off; record: evaluate rules hour by hour and record what would have fired;"
            " deliver: also send it."
        ),
    ] = AlertsMode.off,
    workers: Annotated[int, typer.Option(min=1, help="Chunks extracted at once.", metavar="N")] = 4,
    dask: Annotated[
        str | None,
        typer.Option(
            help="Dask scheduler address (tcp://host:8786) to extract chunks on.",
            metavar="ADDRESS",
        ),
    ] = None,
    chunk_hours: Annotated[
        int,
        typer.Option(
            min=1, help="Hours per chunk; multiples of 24 are local days.", metavar="HOURS"
        ),
    ] = 24,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Skip chunks an earlier backfill loaded; rerun the rest."),
    ] = False,
    staging: Annotated[
        Path | None,
        typer.Option(
            help="Folder for staged chunks (shared with remote Dask workers).", metavar="DIR"
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the chunks and stop.")] = False,
) -> None:
    """Rebuild a range of history in parallel chunks, idempotently, with progress."""
    backfill_command(
        config or [DEFAULT_CONFIG],
        start,
        end,
        alerts=alerts.value,
        workers=workers,
        dask=dask,
        chunk_hours=chunk_hours,
        resume=resume,
        staging=staging,
        dry_run=dry_run,
    )
