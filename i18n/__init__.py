"""The one catalog of words shoppulse shows people, in `en` and `zh-CN`.

Alert templates, the dashboard and the CLI tables read their words here
(`i18n/locales/<locale>.yaml`); each rule keeps its own message text and title beside its
logic in `transforms/rules/`. A key missing in a locale falls back to English, then to the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Literal

import yaml

__all__ = [
    "LOCALES",
    "Locale",
    "dashboard_labels",
    "digest_labels",
    "kpi_headers",
    "label_name",
    "section",
    "word",
]

Locale = Literal["en", "zh-CN"]
LOCALES: tuple[Locale, ...] = ("en", "zh-CN")
_FOLDER = Path(__file__).resolve().parent / "locales"


@cache
def _catalog(locale: str) -> dict[str, dict[str, str]]:
    path = _FOLDER / f"{locale if locale in LOCALES else 'en'}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def section(name: str, locale: str) -> dict[str, str]:
    """One section of the catalog for a locale, English words filling its gaps."""
    english = _catalog("en").get(name, {})
    return {**english, **_catalog(locale).get(name, {})}


def word(key: str, locale: str) -> str:
    """A word of the alert templates (severities, statuses, units)."""
    return section("words", locale).get(key, key)


def label_name(label: str, locale: str) -> str:
    """The human name of an alert label (source, sku_id, promo_id, ...)."""
    return section("labels", locale).get(label, label)


def dashboard_labels(locale: str) -> Mapping[str, str]:
    """Every word of the HTML dashboard."""
    return section("dashboard", locale)


def kpi_headers(locale: str) -> Mapping[str, str]:
    """The KPI table's column headers, in the order the CLI shows them."""
    return section("kpi_headers", locale)


def digest_labels(locale: str) -> Mapping[str, str]:
    """Every word of the daily and weekly reviews."""
    return section("digest", locale)
