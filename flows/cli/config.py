"""`shoppulse check-config`: the config validated and printed, every secret masked."""

from __future__ import annotations

from flows.cli.options import DEFAULT_CONFIG, ConfigOption, app, echo_json, settings_from

__all__ = ["check_config"]


@app.command("check-config")
def check_config(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Validate the config and print it resolved, every secret masked."""
    from flows.settings import masked

    echo_json(masked(settings_from(config)))
