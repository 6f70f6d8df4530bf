"""Number and time formatting shared by the rules' message text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["is_zh", "local_time", "num", "pct"]


def num(value: float | int | None, digits: int = 6) -> str:
    """A number as plain text with `digits` significant digits; '' for None."""
    if value is None:
        return ""
    return f"{float(value):.{digits}g}"


def pct(value: float) -> str:
    """A ratio as a percentage with one decimal."""
    return f"{value * 100:.1f}%"


def is_zh(locale: str) -> bool:
    """Whether messages are written in Chinese."""
    return locale == "zh-CN"


def local_time(value: datetime | None, tz: Any) -> str:
    """An instant on the shop's clock as month-day hour:minute; '' for None."""
    return value.astimezone(tz).strftime("%m-%d %H:%M") if value is not None else ""
