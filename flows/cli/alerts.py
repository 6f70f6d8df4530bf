"""`shoppulse alerts [list|silence|unsilence]`: what is firing, what is silenced, what is stuck."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from flows.cli.options import DEFAULT_CONFIG, ConfigOption, TableFormat, app
from flows.settings import Settings, load_settings
from flows.warehouse import Warehouse
from flows.warehouse.lock import writing

__all__ = ["alerts_app", "list_alerts", "silence", "unsilence"]

alerts_app = typer.Typer(
    name="alerts",
    help="List open alerts and stuck deliveries; silence or unsilence alerts.",
    no_args_is_help=False,
    invoke_without_command=True,
)


def _local(value: Any, settings: Settings) -> str:
    if isinstance(value, datetime):
        return value.astimezone(settings.shop.tz).strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)


def _listing(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    from alerts import alert_rows, delivery_rows, list_silences

    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        return {
            "alerts": alert_rows(wh),
            "deliveries": delivery_rows(wh),
            "silences": list_silences(wh),
        }


def _table(title: str, rows: list[dict[str, Any]], columns: list[str], settings: Settings) -> Table:
    table = Table(title=title, title_justify="left", box=None, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column != columns[-1])
    for row in rows:
        table.add_row(
            *(
                json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else _local(v, settings)
                for v in (row.get(c) for c in columns)
            )
        )
    return table


@alerts_app.callback()
def alerts_main(ctx: typer.Context, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Without a subcommand: the same as `alerts list`."""
    ctx.obj = config
    if ctx.invoked_subcommand is None:
        list_alerts(config=config)


@alerts_app.command("list")
def list_alerts(
    config: ConfigOption = DEFAULT_CONFIG,
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="Output format.")
    ] = TableFormat.table,
) -> None:
    """Open alerts (firing, pending, silenced), undelivered or dead messages, active silences."""
    settings = load_settings(config, secrets=False)
    listing = _listing(settings)
    if fmt is TableFormat.json:
        typer.echo(json.dumps(listing, ensure_ascii=False, indent=2, default=str))
        return
    console = Console(width=max(Console().width, 120))
    alert_columns = ["alertname", "status", "severity", "silenced", "labels", "starts_at"]
    alert_columns += ["delivery", "summary"]
    console.print(_table("alerts", listing["alerts"], alert_columns, settings))
    delivery_columns = ["delivery_id", "channel", "state", "attempts", "last_error", "hour"]
    console.print(_table("undelivered", listing["deliveries"], delivery_columns, settings))
    silence_columns = ["silence_id", "matchers", "ends_at", "reason", "created_by"]
    console.print(_table("silences", listing["silences"], silence_columns, settings))


@alerts_app.command("silence")
def silence(
    match: Annotated[
        list[str],
        typer.Option("--match", help="label=value; repeat to AND.", metavar="LABEL=VALUE"),
    ],
    duration: Annotated[
        str, typer.Option("--for", help="How long, e.g. 30m, 6h, 2d.", metavar="DURATION")
    ],
    reason: Annotated[str, typer.Option(help="Why; shown in `alerts list`.", metavar="TEXT")],
    config: ConfigOption = DEFAULT_CONFIG,
    by: Annotated[
        str | None, typer.Option(help="Who silences (default: your user name).", metavar="NAME")
    ] = None,
) -> None:
    """Silence alerts whose labels match: they are still recorded, not sent."""
    from alerts import add_silence, parse_duration, parse_matchers

    settings = load_settings(config, secrets=False)
    matchers = parse_matchers(match)
    until = datetime.now(UTC) + parse_duration(duration)
    with writing(settings, "shoppulse alerts silence") as wh:
        silence_id = add_silence(wh, matchers, until, reason, by or getpass.getuser())
    typer.echo(f"silence {silence_id} until {_local(until, settings)} ({settings.shop.timezone})")


@alerts_app.command("unsilence")
def unsilence(
    silence_id: Annotated[str, typer.Argument(help="The id `alerts silence` printed.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """End a silence now; it stays in the history."""
    from alerts import remove_silence

    settings = load_settings(config, secrets=False)
    with writing(settings, "shoppulse alerts unsilence") as wh:
        remove_silence(wh, silence_id)
    typer.echo(f"silence {silence_id} ended")


app.add_typer(alerts_app)
