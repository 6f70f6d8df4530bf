"""The `shoppulse` command line: thin commands over the flows and plain functions."""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from flows.alerts_cli import alerts_app
from flows.errors import ShoppulseError

__all__ = ["app", "main"]

app = typer.Typer(
    name="shoppulse",
    help="Hourly ETL and alerting for e-commerce shop operations teams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Config file.", show_default=True)
]
DEFAULT_CONFIG = Path("shoppulse.yaml")

ConfigsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--config",
        "-c",
        help="Shop config, or a fleet file with a `shops:` list; repeat for more shops."
        "  [default: shoppulse.yaml]",
        show_default=False,
    ),
]


def _settings(config: Path) -> Any:
    from flows.settings import load_settings

    return load_settings(config)


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@app.command("check-config")
def check_config(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Validate the config and print it resolved, every secret masked."""
    from flows.settings import masked

    _echo_json(masked(_settings(config)))


@app.command()
def run(
    config: ConfigsOption = None,
    hour: Annotated[
        str | None,
        typer.Option(
            help="Process up to the end of this local hour (ISO), as if the clock stood there."
        ),
    ] = None,
) -> None:
    """One hourly run per shop, side by side: extract, load, refresh KPIs, evaluate alerts."""
    from flows.etl import hourly_etl
    from flows.secrets import secret_env
    from flows.shops import load_shops, run_each, shop_problems

    # every config is checked before Prefect starts
    shops = load_shops(config or [DEFAULT_CONFIG], secret_env())
    results = run_each(shops, lambda shop: hourly_etl(config=str(shop.config), hour=hour))
    summaries = [r for _, r in results if isinstance(r, dict)]
    _echo_json(summaries[0] if len(shops) == 1 and summaries else summaries)
    for summary in summaries:
        if summary["failures"]:
            prefix = "" if len(shops) == 1 else f"{summary['shop']}: "
            typer.echo(
                f"warning: {prefix}{len(summary['failures'])} export(s) failed; their data will"
                " be retried next run: " + "; ".join(summary["failures"].values()),
                err=True,
            )
    problems = shop_problems(results)
    if problems:
        raise ShoppulseError(" | ".join(problems))


@app.command()
def kpis(
    config: ConfigOption = DEFAULT_CONFIG,
    hours: Annotated[int, typer.Option(help="How many recent hours to show.")] = 24,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Print recent rows of mart.kpi_hourly in the shop's local time."""
    from flows.kpi_table import recent_kpis, render_kpis

    if fmt not in ("table", "csv", "json"):
        raise ShoppulseError(f"--format must be table, csv or json, not {fmt!r}")
    settings = _settings(config)
    rows = recent_kpis(settings, hours)
    if fmt == "json":
        _echo_json(rows)
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["hour"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        render_kpis(rows, title=f"{settings.shop.name} — last {hours} hours")


@app.command()
def dashboard(
    config: ConfigOption = DEFAULT_CONFIG,
    out: Annotated[
        Path | None,
        typer.Option(help="HTML file to write [default: <shop name>-dashboard.html]."),
    ] = None,
    hours: Annotated[int, typer.Option(help="Hours shown in the charts.")] = 48,
) -> None:
    """Write a self-contained HTML dashboard of the latest hour (opens offline)."""
    from flows.dashboard import write_dashboard

    if not 1 <= hours <= 24 * 90:
        raise ShoppulseError(f"--hours must be between 1 and {24 * 90}, not {hours}")
    settings = _settings(config)
    path = write_dashboard(settings, out or Path(f"{settings.shop.name}-dashboard.html"), hours)
    typer.echo(f"dashboard written to {path}")


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo writes its files.")
    ] = Path("demo"),
    hours: Annotated[int, typer.Option(help="Simulated hours to replay.")] = 48,
    scenario: Annotated[str, typer.Option(help="Simulator scenario.")] = "demo",
) -> None:
    """Run the whole pipeline against a simulated shop on loopback; no setup needed."""
    from flows.demo import run_demo

    run_demo(directory, hours=hours, scenario=scenario)


@app.command()
def simulate(
    scenario: Annotated[str, typer.Option(help="Scenario name.")] = "normal",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    token: Annotated[
        str, typer.Option(envvar="SHOP_API_TOKEN", help="Bearer token to accept.")
    ] = "demo-token",
) -> None:
    """Serve a simulated shop backend's export API on 127.0.0.1."""
    from simulator.server import serve

    typer.echo(f"serving scenario {scenario!r} (seed {seed}) on http://127.0.0.1:{port}", err=True)
    serve(scenario=scenario, seed=seed, port=port, token=token)


@app.command()
def evaluate(
    scenario: Annotated[str, typer.Option(help="Simulator scenario to replay.")] = "normal",
    seed: Annotated[int, typer.Option(help="Random seed of the simulated shop.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
    days: Annotated[int, typer.Option(help="Simulated days; the first 14 are the baseline.")] = 28,
    skus: Annotated[int | None, typer.Option(help="SKUs in the simulated shop.")] = None,
    visitors_per_day: Annotated[
        int | None, typer.Option(help="Visitors a day in the simulated shop.")
    ] = None,
) -> None:
    """Replay a scenario hour by hour and score the alerts against its ground truth."""
    from flows.evaluation import evaluate_scenario, format_report
    from simulator import SCENARIOS

    if scenario not in SCENARIOS:
        raise ShoppulseError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    if days <= 14:
        raise ShoppulseError("--days must be more than 14: the first 14 days are the baseline")

    def progress(done: int, total: int) -> None:
        if done % 24 == 0 or done == total:
            typer.echo(f"  {scenario}: {done}/{total} hours replayed", err=True)

    result = evaluate_scenario(
        scenario,
        seed,
        days=days,
        skus=skus,
        visitors_per_day=visitors_per_day,
        progress=progress,
    )
    if as_json:
        _echo_json(result.to_json())
    else:
        typer.echo(format_report(result))


@app.command()
def backfill(
    start: Annotated[str, typer.Option(help="First hour to rebuild (ISO; no offset: shop time).")],
    end: Annotated[str, typer.Option(help="End of the range, exclusive (ISO).")],
    config: ConfigsOption = None,
    alerts: Annotated[
        str,
        typer.Option(
            help="off; record: evaluate rules hour by hour and record what would have fired;"
            " deliver: also send it."
        ),
    ] = "off",
    workers: Annotated[int, typer.Option(min=1, help="Chunks extracted at once.")] = 4,
    dask: Annotated[
        str | None,
        typer.Option(help="Dask scheduler address (tcp://host:8786) to extract chunks on."),
    ] = None,
    chunk_hours: Annotated[
        int, typer.Option(min=1, help="Hours per chunk; multiples of 24 are local days.")
    ] = 24,
    resume: Annotated[
        bool, typer.Option(help="Skip chunks an earlier backfill loaded; rerun the rest.")
    ] = False,
    staging: Annotated[
        Path | None,
        typer.Option(help="Folder for staged chunks (shared with remote Dask workers)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="List the chunks and stop.")] = False,
) -> None:
    """Rebuild a range of history in parallel chunks, idempotently, with progress."""
    from flows.commands import backfill_command

    backfill_command(
        config or [DEFAULT_CONFIG],
        start,
        end,
        alerts=alerts,
        workers=workers,
        dask=dask,
        chunk_hours=chunk_hours,
        resume=resume,
        staging=staging,
        dry_run=dry_run,
    )


@app.command()
def serve(
    config: ConfigsOption = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Most flow runs at once (all shops).")
    ] = None,
) -> None:
    """Schedule each shop's hourly run (cron 5 * * * *, shop time) and daily RFM; Ctrl-C stops."""
    from flows.serve import serve_shops

    serve_shops(config or [DEFAULT_CONFIG], limit=limit)


app.add_typer(alerts_app)


def _prefect_defaults() -> None:
    # keep Prefect's state beside the project and its analytics off unless told otherwise
    os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # the temporary local API needs longer than Prefect's 20 s on a busy 2-core machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _exit(code: int) -> None:
    # A failed flow run keeps its traceback (and the DuckDB objects in its frames) alive until
    # interpreter teardown, where the binding reports them as leaks: leave without teardown.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class _QuietExpected(logging.Filter):
    """Drop the traceback from Prefect's log of an expected failure; the message stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ShoppulseError):
            record.exc_info = None
            record.exc_text = None
        if isinstance(record.msg, str) and "Traceback (most recent call last)" in record.msg:
            record.msg = record.msg.split("\nTraceback (most recent call last)")[0]
        return True


def _quiet_prefect_tracebacks() -> None:
    quiet = _QuietExpected()
    for name in (
        "prefect.flow_runs",
        "prefect.task_runs",
        "prefect.flow_engine",
        "prefect.task_engine",
    ):
        logging.getLogger(name).addFilter(quiet)


def main() -> None:
    """Console entry point: expected failures print one line on stderr and exit non-zero."""
    _prefect_defaults()
    _quiet_prefect_tracebacks()
    try:
        app(standalone_mode=False)
    except ShoppulseError as exc:
        typer.echo(f"shoppulse: {exc}", err=True)
        _exit(1)
    except (click.exceptions.Abort, typer.Abort, KeyboardInterrupt):
        typer.echo("shoppulse: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        # usage errors (click's, or the copy bundled with typer) print their usage line
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise
