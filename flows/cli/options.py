"""What every command shares: the typer app, the --config options, choices and output helpers."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from flows.settings import Settings

__all__ = [
    "DEFAULT_CONFIG",
    "AlertsMode",
    "Api",
    "ConfigOption",
    "ConfigsOption",
    "Format",
    "TableFormat",
    "app",
    "echo_json",
    "settings_from",
]

app = typer.Typer(
    name="shoppulse",
    help="Hourly ETL and alerting for e-commerce shop operations teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

DEFAULT_CONFIG = Path("shoppulse.yaml")

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="Config file.", show_default=True, metavar="FILE"),
]

ConfigsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--config",
        "-c",
        help="Shop config, or a fleet file with a `shops:` list; repeat for more shops."
        "  [default: shoppulse.yaml]",
        show_default=False,
        metavar="FILE",
    ),
]


class Format(StrEnum):
    """Output of a listing: a table for people, csv or json for programs."""

    table = "table"
    csv = "csv"
    json = "json"


class TableFormat(StrEnum):
    """Output of a listing without a csv form."""

    table = "table"
    json = "json"


class Api(StrEnum):
    """Which platform's interface the simulated shop speaks."""

    export = "export"
    shopify = "shopify"
    taobao = "taobao"


class AlertsMode(StrEnum):
    """What a backfill does with the rules: nothing, record what would fire, or send it."""

    off = "off"
    record = "record"
    deliver = "deliver"


def settings_from(config: Path, *, secrets: bool = False) -> Settings:
    """The validated settings of one config file, for a command that reads the local warehouse:
    secrets it does not use (source token, channel URLs) need not be set."""
    from flows.settings import load_settings

    return load_settings(config, secrets=secrets)


def echo_json(data: Any) -> None:
    """Machine-readable output: indented JSON on stdout."""
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
