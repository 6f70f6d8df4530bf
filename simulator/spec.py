"""The size and calendar of a simulated shop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["ANCHOR", "DEFAULT_START", "MID_SIZE", "ShopSpec"]

ANCHOR = datetime(2026, 11, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
"""Where the default timeline ends: the day after 双11, so its last day is the big sale."""

DEFAULT_START = ANCHOR - timedelta(days=28)


@dataclass(frozen=True)
class ShopSpec:
    """How big the simulated shop is and which stretch of time it covers."""

    skus: int = 60
    visitors_per_day: int = 40_000
    seed: int = 0
    start: datetime = DEFAULT_START
    days: int = 28
    timezone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if not 3 <= self.skus <= 20_000:
            raise ValueError(f"ShopSpec.skus must be between 3 and 20000, got {self.skus}")
        if not 0 < self.visitors_per_day <= 50_000_000:
            raise ValueError(
                f"ShopSpec.visitors_per_day must be in 1..50000000, got {self.visitors_per_day}"
            )
        if not 1 <= self.days <= 400:
            raise ValueError(f"ShopSpec.days must be between 1 and 400, got {self.days}")
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("ShopSpec.start must be timezone-aware")
        try:
            tz = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"ShopSpec.timezone is not a known zone: {self.timezone!r}") from exc
        local = self.start.astimezone(tz)
        if (local.minute, local.second, local.microsecond) != (0, 0, 0):
            raise ValueError(
                f"ShopSpec.start must be the start of a local hour in {self.timezone}, "
                f"got {local.isoformat()}"
            )

    @property
    def tz(self) -> ZoneInfo:
        """The shop's timezone."""
        return ZoneInfo(self.timezone)

    @property
    def hours(self) -> int:
        """Number of simulated hours."""
        return self.days * 24

    @property
    def end(self) -> datetime:
        """The instant the timeline stops (exclusive)."""
        # Aware datetime arithmetic is wall-clock; go through epoch seconds to stay exact.
        return datetime.fromtimestamp(self.start.timestamp() + 3600 * self.hours, self.tz)


MID_SIZE = ShopSpec(skus=400, visitors_per_day=3_000_000)
"""A mid-size shop: about 5,000 paid order lines an hour on average (the benchmark size)."""
