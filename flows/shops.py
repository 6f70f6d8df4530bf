"""Many shops: config files named on the command line, or listed in a fleet file, each shop its
own warehouse and its own flow runs, run side by side.

A fleet file is a YAML file with only a `shops:` list of config paths (relative to it):

    shops:
      - shops/tmall-flagship.yaml
      - shops/shopify-eu.yaml

`--config` accepts a shop config or a fleet file, and may be repeated. A single shoppulse.yaml
works exactly as before.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from flows.errors import EXPECTED_ERRORS, ConfigError
from flows.settings import Settings, load_settings

__all__ = ["Shop", "expand_configs", "load_shops", "run_each", "shop_problems"]

T = TypeVar("T")


@dataclass(frozen=True)
class Shop:
    """One shop: its config file (absolute) and validated settings."""

    config: Path
    settings: Settings

    @property
    def name(self) -> str:
        return self.settings.shop.name


def _fleet(path: Path) -> list[Path] | None:
    """The configs a fleet file lists, or None when `path` is a shop config."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # load_settings reports it with the details
    if not isinstance(data, dict) or "shops" not in data:
        return None
    if set(data) != {"shops"}:
        extra = ", ".join(sorted(str(k) for k in set(data) - {"shops"}))
        raise ConfigError(f"{path}: a fleet file holds only `shops:` (found also: {extra})")
    entries = data["shops"]
    if not isinstance(entries, list) or not entries or not all(isinstance(e, str) for e in entries):
        raise ConfigError(f"{path}: shops must be a non-empty list of config file paths")
    return [p if p.is_absolute() else path.parent / p for p in map(Path, entries)]


def expand_configs(paths: Sequence[Path]) -> list[Path]:
    """The shop configs behind the given files: fleet files replaced by what they list."""
    configs: list[Path] = []
    for path in paths:
        listed = _fleet(path) if path.is_file() else None
        for config in listed if listed is not None else [path]:
            if config.is_file() and _fleet(config) is not None:
                raise ConfigError(f"{config}: a fleet file cannot list another fleet file")
            configs.append(config.resolve() if config.exists() else config)
    return configs


def load_shops(paths: Sequence[Path], env: Mapping[str, str] | None = None) -> list[Shop]:
    """Validate every shop's config; shop names and warehouse files must not repeat."""
    shops = [Shop(c, load_settings(c, env)) for c in dict.fromkeys(expand_configs(paths))]
    names: dict[str, Path] = {}
    warehouses: dict[Path, str] = {}
    for shop in shops:
        if shop.name in names:
            raise ConfigError(
                f"shop name {shop.name!r} is used by both {names[shop.name]} and {shop.config}"
            )
        names[shop.name] = shop.config
        warehouse = shop.settings.warehouse.path.resolve()
        if warehouse in warehouses:
            raise ConfigError(
                f"shops {warehouses[warehouse]!r} and {shop.name!r} share warehouse {warehouse};"
                " each shop needs its own file (one writer per warehouse)"
            )
        warehouses[warehouse] = shop.name
    return shops


def run_each(
    shops: Sequence[Shop], fn: Callable[[Shop], T], *, parallel: int | None = None
) -> list[tuple[Shop, T | BaseException]]:
    """Run `fn` for every shop side by side (one thread each, each its own flow run); a
    shop's failure is returned in its place and does not stop the others. Each thread runs in
    a copy of the caller's context, so Prefect's settings there (the command's own server's
    URL, no heartbeats) hold in every shop's flow run."""

    def guarded(shop: Shop) -> T | BaseException:
        try:
            return fn(shop)
        except Exception as exc:
            return exc

    if len(shops) == 1:
        return [(shops[0], guarded(shops[0]))]
    with ThreadPoolExecutor(max_workers=parallel or len(shops)) as pool:
        futures = [pool.submit(contextvars.copy_context().run, guarded, shop) for shop in shops]
        results: list[Any] = [future.result() for future in futures]
    return list(zip(shops, results, strict=True))


def shop_problems(
    results: Sequence[tuple[Shop, T | BaseException]],
    problem: Callable[[T], str | None] = lambda _: None,
) -> list[str]:
    """One line per shop that failed, in shop order: its expected error (named when there are
    several shops) or what `problem` finds in its result. Any other exception is raised."""
    lines = []
    for shop, result in results:
        if isinstance(result, EXPECTED_ERRORS):
            lines.append(str(result) if len(results) == 1 else f"{shop.name}: {result}")
        elif isinstance(result, BaseException):
            raise result
        elif (line := problem(result)) is not None:
            lines.append(line)
    return lines
