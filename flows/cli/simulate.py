"""`shoppulse simulate` and `shoppulse evaluate`: the simulated shop, served or scored."""

from __future__ import annotations

import socket
from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.options import Api, app, echo_json
from flows.errors import ShoppulseError

__all__ = ["evaluate", "simulate"]


def _check_port(port: int) -> None:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        # as uvicorn binds: a port left in TIME_WAIT is free, one listening is not
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ShoppulseError(
                f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}"
                " (is another simulator running? pass --port)"
            ) from None


@app.command()
def simulate(
    scenario: Annotated[str, typer.Option(help="Scenario name.", metavar="NAME")] = "normal",
    seed: Annotated[int, typer.Option(help="Random seed.", metavar="N")] = 0,
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.", metavar="PORT")
    ] = 8765,
    token: Annotated[
        str, typer.Option(envvar="SHOP_API_TOKEN", help="Bearer token to accept.", metavar="TOKEN")
    ] = "demo-token",
    api: Annotated[Api, typer.Option(help="The interface the shop speaks.")] = Api.export,
    exports_dir: Annotated[
        Path,
        typer.Option(help="With --api taobao: where to write the 生意参谋 exports.", metavar="DIR"),
    ] = Path("sycm"),
    app_key: Annotated[
        str, typer.Option(help="With --api taobao: the app key.", metavar="KEY")
    ] = "demo-app",
    app_secret: Annotated[
        str,
        typer.Option(
            envvar="TOP_APP_SECRET", help="With --api taobao: the app secret.", metavar="SECRET"
        ),
    ] = "demo-secret",
    session: Annotated[
        str,
        typer.Option(
            envvar="TOP_SESSION", help="With --api taobao: the seller session.", metavar="SESSION"
        ),
    ] = "demo-session",
) -> None:
    """Serve a simulated shop on 127.0.0.1: its export API, a Shopify store or a TOP gateway."""
    from simulator import SCENARIOS

    if scenario not in SCENARIOS:
        raise ShoppulseError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    _check_port(port)
    if api is Api.taobao:
        _serve_taobao(scenario, seed, port, exports_dir, app_key, app_secret, session)
        return
    if api is Api.shopify:
        from simulator.shopify import serve_shopify

        typer.echo(
            f"serving scenario {scenario!r} (seed {seed}) as a Shopify store: POST"
            f" http://127.0.0.1:{port}/admin/api/<version>/graphql.json"
            " with X-Shopify-Access-Token",
            err=True,
        )
        serve_shopify(scenario, seed, port, token)
        return
    from simulator.server import serve

    typer.echo(f"serving scenario {scenario!r} (seed {seed}) on http://127.0.0.1:{port}", err=True)
    serve(scenario=scenario, seed=seed, port=port, token=token)


def _serve_taobao(
    scenario: str, seed: int, port: int, exports: Path, app_key: str, secret: str, session: str
) -> None:
    from simulator import SCENARIOS, Simulator
    from simulator.taobao import TopCredentials, serve_top, write_exports

    if scenario not in SCENARIOS:
        raise ShoppulseError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    sim = Simulator(scenario, seed)
    files = write_exports(sim, exports)
    typer.echo(f"wrote {len(files)} 生意参谋 export files to {exports}", err=True)
    typer.echo(
        f"serving scenario {scenario!r} (seed {seed}) as a TOP gateway on"
        f" http://127.0.0.1:{port}/router/rest (app_key {app_key})",
        err=True,
    )
    serve_top(sim, TopCredentials(app_key, secret, session), port)


@app.command()
def evaluate(
    scenario: Annotated[
        str, typer.Option(help="Simulator scenario to replay.", metavar="NAME")
    ] = "normal",
    seed: Annotated[int, typer.Option(help="Random seed of the simulated shop.", metavar="N")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON.")] = False,
    days: Annotated[
        int, typer.Option(help="Simulated days; the first 14 are the baseline.", metavar="N")
    ] = 28,
    skus: Annotated[
        int | None, typer.Option(help="SKUs in the simulated shop.", metavar="N")
    ] = None,
    visitors_per_day: Annotated[
        int | None, typer.Option(help="Visitors a day in the simulated shop.", metavar="N")
    ] = None,
    api: Annotated[
        Api, typer.Option(help="Read the shop through its export API or as a Shopify store.")
    ] = Api.export,
    off_promotion: Annotated[
        bool,
        typer.Option(
            "--off-promotion",
            help="Judge conversion_drop's SKUs outside the running promotions too.",
        ),
    ] = False,
) -> None:
    """Replay a scenario hour by hour and score the alerts against its ground truth."""
    from flows.evaluation import evaluate_scenario, format_report
    from simulator import SCENARIOS

    if scenario not in SCENARIOS:
        raise ShoppulseError(f"unknown scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    if api is Api.taobao:
        raise ShoppulseError("evaluate reads the shop through --api export or --api shopify")
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
        api=api.value,
        off_promotion=off_promotion,
    )
    if as_json:
        echo_json(result.to_json())
    else:
        typer.echo(format_report(result))
