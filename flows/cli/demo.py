"""`shoppulse demo`: the whole pipeline against a simulated shop on loopback, no setup needed."""

from __future__ import annotations

import importlib
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from flows.cli.kpis import recent_kpis, render_kpis, wide_console
from flows.cli.options import Api, app
from flows.dashboard import write_dashboard
from flows.errors import BackfillError, RunIncompleteError
from flows.pipeline import run_hour
from flows.settings import Settings, load_settings
from flows.warehouse import Warehouse, read_sql
from simulator import ShopSpec, Simulator
from simulator.server import serve_process_args
from simulator.shopify import ShopifyServer
from simulator.taobao import TopCredentials, top_server, write_exports
from sources import make_source
from transforms.rules import conversion_drop, data_gap, low_stock_promo

__all__ = [
    "DEMO_TOKEN",
    "DEMO_TOP",
    "Stretch",
    "demo",
    "demo_config",
    "outage_hours",
    "replay_end",
    "replay_plan",
    "run_demo",
    "shopify_source",
    "taobao_source",
]


DEMO_TOKEN = "demo-token-loopback-only"
DEMO_TOP = TopCredentials("demo-app", "demo-secret-loopback-only", "demo-session-loopback-only")
# the longest the rules read back from an hour is 15 days (conversion_drop's and return_spike's
# 14 baseline days before their windows, low_stock_promo's 14 days of demand), and a day more
HISTORY_DAYS = 16
# days of history loaded after each run: the first day alone, so its KPI line comes early;
# then a week or so per run, little per-run cost
HISTORY_STEPS = (1, 8, 16)


def demo_config(
    directory: Path, base_url: str, timezone: str, source: dict[str, Any] | None = None
) -> Path:
    """Write the demo's shoppulse.yaml: simulator source, console and JSON-lines channels."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "shop": {"name": "demo-shop", "timezone": timezone, "locale": "en"},
        # one retry: the loopback simulator answers at once, and its outages are on purpose
        "source": {
            **(source or {"kind": "http", "base_url": base_url, "token": DEMO_TOKEN}),
            "max_attempts": 2,
        },
        "warehouse": {"path": "demo-shop.duckdb", "lock_timeout_seconds": 60},
        "rules": {
            conversion_drop.ALERTNAME: {"min_drop": 0.25, "min_visitors": 100, "baseline_days": 14},
            low_stock_promo.ALERTNAME: {"lookahead_hours": 24, "min_cover_hours": 2},
            "thresholds": [
                {
                    "name": "high_bounce",
                    "metric": "bounce_rate",
                    "op": ">",
                    "value": 0.7,
                    "scope": "shop",
                    "min_visitors": 100,
                    "severity": "warning",
                }
            ],
        },
        "channels": [
            {"name": "console", "type": "console"},
            {"name": "file", "type": "file", "path": "alerts.jsonl"},
        ],
    }
    path = directory / "shoppulse.yaml"
    path.write_text(
        "# written by `shoppulse demo`; its token, app secret and session are the loopback"
        " simulator's, not secrets\n" + yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return path


def _with_lookback(settings: Settings, hours: int) -> Settings:
    return settings.model_copy(
        update={"source": settings.source.model_copy(update={"lookback_hours": hours})}
    )


def _load_history(settings: Settings, end: datetime, console: Console) -> dict[str, int]:
    """Load the days before `end` the rules need for their baselines, in `HISTORY_STEPS`
    runs, and print each day's KPIs as its run lands; returns the records loaded per dataset."""
    loaded: dict[str, int] = {}
    start = end - timedelta(days=HISTORY_DAYS)
    first_day: date | None = None
    with Warehouse(settings.warehouse.path) as wh, closing(make_source(settings.source)) as source:
        for step, days in enumerate(HISTORY_STEPS):
            until = start + timedelta(days=days)
            # the first run reads its own days; then each run reads on from the watermark
            lookback = days * 24 if step == 0 else 0
            result = run_hour(wh, _with_lookback(settings, lookback), source, until)
            for dataset, load in result.loads.items():
                loaded[dataset] = loaded.get(dataset, 0) + load.loaded
            last = (until - timedelta(hours=1)).astimezone(settings.shop.tz).date()
            span = {"first_day": first_day or last - timedelta(days=days - 1), "last_day": last}
            for kpi in wh.frame(read_sql("reads/digest_kpi_daily"), span).iter_rows(named=True):
                console.print(
                    f"[dim]history {kpi['day']:%m-%d}[/] visitors {kpi['visitors']:>7,}"
                    f"  buyers {kpi['buyers']:>6,}  gmv {kpi['gmv']:>12,.2f}"
                )
            first_day = last + timedelta(days=1)
    return loaded


def replay_end(sim: Simulator) -> datetime:
    """The demo's clock: the local midnight after the scenario's last incident, else its end.
    Negative reviews come every day of every scenario, so they do not place the window."""
    ends = [i.end for i in sim.truth(reviews=False)]
    if not ends:
        return sim.spec.end.astimezone(UTC)
    last = max(ends).astimezone(sim.spec.tz)
    midnight = datetime.combine(last.date() + timedelta(days=1), datetime.min.time(), sim.spec.tz)
    return min(midnight, sim.spec.end).astimezone(UTC)


def outage_hours(sim: Simulator) -> set[datetime]:
    """The hours the scenario's export backend is down (its data_gap incidents)."""
    hours: set[datetime] = set()
    for incident in sim.truth(reviews=False):
        if incident.alertname == data_gap.ALERTNAME:
            at = incident.start.astimezone(UTC)
            while at < incident.end:
                hours.add(at)
                at += timedelta(hours=1)
    return hours


@dataclass(frozen=True)
class Stretch:
    """Replayed hours [start, end): one hourly flow run per hour (`live`), else one backfill
    flow run that loads them hour by hour and evaluates each hour's alerts after it."""

    start: datetime
    end: datetime
    live: bool

    @property
    def hours(self) -> int:
        return round((self.end - self.start) / timedelta(hours=1))


def replay_plan(start: datetime, hours: int, outages: set[datetime]) -> list[Stretch]:
    """How the demo replays `hours` hours from `start`: the last hour, each hour the backend
    is down and the hour after it as hourly flow runs; the stretches between as backfills.

    A backfill reads its hours after the fact, when the backend answers again: it would not
    see an outage, so those hours run live, and the next live run reads the window again.
    """
    stretches: list[Stretch] = []
    for i in range(hours):
        hour = start + timedelta(hours=i)
        live = i == hours - 1 or hour in outages or hour - timedelta(hours=1) in outages
        if stretches and not live and not stretches[-1].live:
            stretches[-1] = Stretch(stretches[-1].start, hour + timedelta(hours=1), False)
        else:
            stretches.append(Stretch(hour, hour + timedelta(hours=1), live))
    return stretches


def taobao_source(gateway: str) -> dict[str, Any]:
    """The demo's `source:` for the simulator's TOP gateway and its 生意参谋 exports."""
    return {
        "kind": "taobao",
        "app_key": DEMO_TOP.app_key,
        "app_secret": DEMO_TOP.app_secret,
        "session": DEMO_TOP.session,
        "gateway": gateway,
        "exports_dir": "sycm",
        "lookback_hours": 48,
        # the loopback gateway has no call limit to respect
        "calls_per_second": 1000,
    }


def shopify_source(base_url: str) -> dict[str, Any]:
    """The demo's `source:` for the simulator's emulated Shopify store."""
    return {
        "kind": "shopify",
        "shop": "demo-shop.myshopify.com",
        "access_token": DEMO_TOKEN,
        "base_url": base_url,
        # every change moves an order's updatedAt: a short re-read catches late updates
        "lookback_hours": 2,
    }


Clock = Callable[[datetime], None]


def _still(_: datetime) -> None:
    pass


@contextmanager
def _simulator_process(
    scenario: str, seed: int, spec: ShopSpec | None, directory: Path
) -> Iterator[str]:
    """The shop's export API served from a process of its own, tied to this one (generating
    pages does not share the pipeline's GIL), its output in `directory`/simulator.log;
    yields where it answers, stops it after.

    The socket is bound here and handed over, so the port is known at once and the first
    requests wait in its backlog while the process starts."""
    from flows.local_server import spawn, stop  # not log_path: importing Prefect here costs seconds

    directory.mkdir(parents=True, exist_ok=True)
    with socket.create_server(("127.0.0.1", 0)) as listening:
        fd = listening.fileno()
        args = serve_process_args(fd, scenario, seed, DEMO_TOKEN, spec)
        process = spawn("simulator.server", args, log=directory / "simulator.log", pass_fds=[fd])
        port = listening.getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process, grace=10)


@contextmanager
def _serving(
    sim: Simulator, api: Api, directory: Path, export: str | None
) -> Iterator[tuple[str, dict[str, Any], Clock]]:
    """The simulator served in the chosen dialect: where it answers, the source config, and
    how to move the served shop's clock (stock and discounts as they stood at an hour).
    `export`: where its export API answers (`_simulator_process`), for `Api.export`."""
    if api is Api.taobao:
        shutil.rmtree(directory / "sycm", ignore_errors=True)
        write_exports(sim, directory / "sycm")
        with top_server(sim, DEMO_TOP) as server:
            gateway = f"{server.base_url}/router/rest"
            yield gateway, taobao_source(gateway), _still
        return
    if api is Api.shopify:
        # a Shopify Plus store's bucket (1000 points a second)
        with ShopifyServer(sim, token=DEMO_TOKEN, maximum=20000, restore_rate=1000) as store:
            yield store.base_url, shopify_source(store.base_url), store.emulator.set_now
        return
    assert export is not None, "run_demo starts the export API's process (_simulator_process)"
    source = {
        "kind": "http",
        "base_url": export,
        "token": DEMO_TOKEN,
        # the largest page the export allows: on loopback fewer round trips are all gain
        "page_size": 5000,
        # the simulator's export has no visibility lag: a late change is a new version
        # with a new updated_at, and a failed export leaves the watermark where it was,
        # so the next run reads from it; a short re-read is enough
        "lookback_hours": 2,
    }
    yield export, source, _still


def _kpi_line(
    console: Console, local: datetime, kpis: dict[str, Any], failures: list[str] | None = None
) -> None:
    console.print(
        f"[dim]{local:%m-%d %H:%M}[/] visitors {kpis.get('visitors', 0):>6,}"
        f"  buyers {kpis.get('buyers', 0):>5,}  gmv {kpis.get('gmv', 0.0):>11,.2f}"
        + (f"  [red]export failed: {', '.join(failures)}[/]" if failures else "")
    )


def _hourly_run(config: Path, settings: Settings, hour: datetime, console: Console) -> None:
    """One `hourly-etl` flow run for the hour starting at `hour`, and its KPI line."""
    from flows.etl import hourly_etl

    local = hour.astimezone(settings.shop.tz)
    try:
        summary = hourly_etl(config=str(config), hour=local.isoformat())
    except RunIncompleteError as exc:  # an outage scenario: shown, and replay goes on
        summary = exc.summary
    _kpi_line(console, local, summary["kpis"], summary["failures"])


def _backfill_run(config: Path, settings: Settings, stretch: Stretch, console: Console) -> None:
    """One `backfill` flow run over the stretch with alerts delivered hour by hour, each
    hour's KPI line printed once its alerts are evaluated."""
    from flows.backfill import backfill_summary
    from flows.rebuild import HourReplayed, failure_message, replay_listener

    tz = settings.shop.tz

    def show(event: HourReplayed) -> None:
        _kpi_line(console, event.hour.astimezone(tz), event.kpis)

    with replay_listener(show):
        summary = backfill_summary(
            start=stretch.start.astimezone(tz).isoformat(),
            end=stretch.end.astimezone(tz).isoformat(),
            config=str(config),
            alerts="deliver",
            workers=2,
        )
    if summary["failed"]:
        raise BackfillError(failure_message(summary))


def _import_replay() -> None:
    """Import the replay's flows and scipy (conversion_drop's first evaluation needs it)."""
    from transforms.stats import distributions

    for module in ("flows.backfill", "flows.etl"):
        importlib.import_module(module)
    distributions()


def _why(hour: datetime, outages: set[datetime]) -> str:
    if hour in outages:
        return ": the simulated backend is down this hour"
    if hour - timedelta(hours=1) in outages:
        return ": the backend is back, the run reads the failed hour again"
    return ": the hourly job itself"


def run_demo(
    directory: Path,
    *,
    hours: int = 48,
    scenario: str = "demo",
    seed: int = 7,
    api: Api = Api.export,
    spec: ShopSpec | None = None,
) -> None:
    """Serve the simulator, load its history, then replay the last `hours` hours: hourly
    flow runs for the last hour and the outage hours, backfill flow runs between them.
    `spec` sizes the simulated shop (tests use a small one)."""
    from flows.local_server import start_temporary_server_early

    # Prefect's temporary API comes up while the history loads, and what the replay imports
    server_ready = start_temporary_server_early(then=_import_replay)

    console = wide_console()
    started = time.monotonic()
    with ExitStack() as stack:
        # the export API's own process starts while this one works out the scenario's clock
        export = None
        if api is Api.export:
            export = stack.enter_context(_simulator_process(scenario, seed, spec, directory))
        sim = Simulator(scenario, seed, spec)
        end = replay_end(sim)
        replay_from = end - timedelta(hours=hours)
        # only the export API serves past windows as they stood (Shopify and TOP answer with
        # today's stock): the other interfaces replay every hour as an hourly run
        outages = outage_hours(sim)
        if api is Api.export:
            plan = replay_plan(replay_from, hours, outages)
        else:
            plan = [Stretch(replay_from, end, live=True)]
        for stale in ("demo-shop.duckdb", "demo-shop.duckdb.wal", "alerts.jsonl"):
            (directory / stale).unlink(missing_ok=True)
        with _serving(sim, api, directory, export) as (where, source, clock):
            config = demo_config(directory, where, sim.spec.timezone, source)
            settings = load_settings(config)
            console.print(
                f"[bold]shoppulse demo[/]: simulated shop [cyan]{scenario}[/] on {where},"
                f" config {config}"
            )
            clock(replay_from)
            loaded = _load_history(settings, replay_from, console)
            console.print(
                f"loaded {HISTORY_DAYS} days of history: "
                + ", ".join(f"{d} {n:,}" for d, n in loaded.items())
            )
            server_ready()  # the replay runs are Prefect flow runs
            tz = settings.shop.tz
            for stretch in plan:
                first = stretch.start.astimezone(tz)
                if not stretch.live:
                    console.print(
                        f"replaying {stretch.hours} hours from {first:%m-%d %H:%M} in one backfill"
                        " flow run, each hour's alerts evaluated after that hour is loaded"
                    )
                    clock(stretch.end)
                    _backfill_run(config, settings, stretch, console)
                    continue
                if stretch.hours > 1:
                    console.print(
                        f"replaying {stretch.hours} hours as {stretch.hours} hourly flow runs"
                    )
                for i in range(stretch.hours):
                    hour = stretch.start + timedelta(hours=i)
                    if stretch.hours == 1:
                        console.print(
                            f"hourly flow run for {first:%m-%d %H:%M}{_why(hour, outages)}"
                        )
                    clock(hour + timedelta(hours=1))
                    _hourly_run(config, settings, hour, console)
    rows = recent_kpis(settings, 24)
    render_kpis(rows, title=f"demo-shop — last 24 of {hours} replayed hours", console=console)
    dashboard = write_dashboard(settings, directory / "dashboard.html", hours=hours)
    console.print(
        f"done in {time.monotonic() - started:.0f}s: warehouse {settings.warehouse.path},"
        f" alerts {directory / 'alerts.jsonl'}, dashboard {dashboard}"
    )


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo writes its files.", metavar="DIR")
    ] = Path("demo"),
    hours: Annotated[int, typer.Option(min=1, help="Simulated hours to replay.", metavar="N")] = 48,
    scenario: Annotated[str, typer.Option(help="Simulator scenario.", metavar="NAME")] = "demo",
    api: Annotated[Api, typer.Option(help="The interface the simulated shop speaks.")] = Api.export,
) -> None:
    """Run the whole pipeline against a simulated shop on loopback; no setup needed."""
    run_demo(directory, hours=hours, scenario=scenario, api=api)
