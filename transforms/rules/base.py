"""What a rule is: its alertname, settings, reads, pure evaluation and words, in one module.

A rule module defines one `Rule`. Its `evaluate` gets a `Context`: the evaluated hour, the
frames every rule shares (promotions, stock, the hour's measures), and `read`, which returns
one of the rule's declared read models (`sql/reads/<name>.sql`) as known at the hour's end. It
returns `Candidate`s: plain alerts with their words already in the shop's locale.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import polars as pl
from pydantic import BaseModel, ConfigDict

__all__ = [
    "Candidate",
    "Context",
    "Hour",
    "Reader",
    "Rule",
    "RuleSettings",
    "SettingsLookup",
    "Shared",
    "running",
    "utc",
]

Reader = Callable[[str, Mapping[str, Any]], pl.DataFrame]


class RuleSettings(BaseModel):
    """Base of every rule's settings model (`rules.<alertname>` in shoppulse.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SettingsLookup(Protocol):
    """The validated `rules:` section: each rule's settings by alertname."""

    def of(self, alertname: str) -> Any: ...


@dataclass(frozen=True)
class Hour:
    """The evaluated hour: its start, its end (= as_of, the instant the rules stand at)."""

    start: datetime
    end: datetime
    tz: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


@dataclass(frozen=True)
class Shared:
    """Frames several rules read, read once per hour by the runner."""

    promotions: pl.DataFrame
    items: pl.DataFrame
    products: pl.DataFrame
    stock: pl.DataFrame
    current: dict[str, pl.DataFrame]


@dataclass(frozen=True)
class Context:
    """Everything a rule's evaluation sees for one hour."""

    hour: Hour
    shared: Shared
    read: Reader
    rules: SettingsLookup
    locale: str

    def running_promotions(self) -> pl.DataFrame:
        """The shared promotions that run at some time in the evaluated hour."""
        return running(self.shared.promotions, self.hour)


@dataclass(frozen=True)
class Candidate:
    """An alert a rule raises for the evaluated hour, before the alert lifecycle sees it.

    `inhibits` names rules whose alerts of the same hour this one holds back (a data gap
    is never reported as a business drop); `incomplete` says the hour's own data is missing,
    so the user threshold rules do not judge it either."""

    alertname: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    impact: float = 0.0
    for_hours: int | None = None
    inhibits: frozenset[str] = field(default_factory=frozenset)
    incomplete: bool = False


@dataclass(frozen=True)
class Rule:
    """One rule: what it is called, configured by, reads, decides, and how it reads to people."""

    alertname: str
    title: Mapping[str, str]
    settings: type[RuleSettings]
    reads: tuple[str, ...]
    evaluate: Callable[[Context], list[Candidate]]
    doc: str = ""


def running(promotions: pl.DataFrame, hour: Hour) -> pl.DataFrame:
    """The promotions that run at some time in `hour` (starts_at, ends_at in UTC)."""
    return promotions.filter((pl.col("starts_at") < hour.end) & (pl.col("ends_at") > hour.start))


def utc(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Instants as UTC: DuckDB hands them back in the session zone; rules compare in UTC."""
    return frame.with_columns([pl.col(c).cast(pl.Datetime("us", "UTC")) for c in columns])
