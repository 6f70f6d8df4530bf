"""`shoppulse check-config`: the config validated and printed, every secret masked."""

from __future__ import annotations

from flows.cli.options import DEFAULT_CONFIG, ConfigOption, app, echo_json, settings_from

__all__ = ["check_config", "check_source"]


@app.command("check-config")
def check_config(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Validate the config and print it resolved, every secret masked."""
    from flows.settings import masked

    # strict: finding an unset variable before a run does is what this command is for
    echo_json(masked(settings_from(config, secrets=True)))


@app.command("check-source")
def check_source(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Make one cheap authenticated call to the source; name any missing access scope."""
    from contextlib import closing
    from datetime import UTC, datetime, timedelta

    from flows.errors import ShoppulseError
    from sources import make_source

    settings = settings_from(config, secrets=True)
    with closing(make_source(settings.source)) as source:
        report: dict[str, object] = {"source": source.name, "kind": settings.source.kind}
        if settings.source.kind == "shopify":
            from sources.shopify import ShopifySource, missing_scopes

            assert isinstance(source, ShopifySource)
            missing = missing_scopes(source)
            report["missing_scopes"] = missing
            if missing:
                echo_json(report)
                raise ShoppulseError(
                    f"{source.name}: the custom app lacks the access scopes {', '.join(missing)}"
                )
        else:
            until = datetime.now(UTC)
            pages = source.pages("products", until - timedelta(hours=1), until)
            report["products_last_hour"] = sum(getattr(p, "count", 0) for p in pages)
        report["not_provided"] = sorted(set(settings.source.datasets) - source.provides)
        report["ok"] = True
        echo_json(report)
