"""Hour indexing and fast ISO-8601 formatting on the shop's local clock."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from simulator.spec import ShopSpec

__all__ = ["Clock"]

_MMSS = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]


class Clock:
    """Maps hour indexes to instants and formats epoch seconds in the shop timezone."""

    def __init__(self, spec: ShopSpec) -> None:
        self.tz = spec.tz
        self.hours = spec.hours
        self.t0 = int(spec.start.timestamp())
        # Hour h is the absolute hour [t0 + 3600h, t0 + 3600(h+1)); with whole-hour DST shifts
        # every such hour is also exactly one local hour, repeated local hours included.
        self.starts = self.t0 + 3600 * np.arange(self.hours + 1, dtype=np.int64)
        locals_ = [datetime.fromtimestamp(int(t), self.tz) for t in self.starts[:-1]]
        self.local_hour = np.array([d.hour for d in locals_], dtype=np.int64)
        self.weekday = np.array([d.weekday() for d in locals_], dtype=np.int64)
        first = locals_[0].date() if locals_ else spec.start.date()
        self.day = np.array([(d.date() - first).days for d in locals_], dtype=np.int64)
        self._prefix = [d.strftime("%Y-%m-%dT%H:") for d in locals_]
        self._suffix = [d.isoformat()[19:] for d in locals_]
        self._dates = locals_

    def instant(self, h: int) -> datetime:
        """The local datetime at which hour `h` starts."""
        if 0 <= h < self.hours:
            return self._dates[h]
        return datetime.fromtimestamp(self.t0 + 3600 * h, self.tz)

    def hour_of(self, ts: float) -> int:
        """Index of the hour containing epoch second `ts` (may be outside the timeline)."""
        return int((ts - self.t0) // 3600)

    def iso(self, ts: int) -> str:
        """Epoch seconds as ISO-8601 with the shop's offset, e.g. 2026-11-11T00:03:12+08:00."""
        h = (ts - self.t0) // 3600
        if 0 <= h < self.hours:
            return self._prefix[h] + _MMSS[ts - self.t0 - 3600 * h] + self._suffix[h]
        return datetime.fromtimestamp(ts, self.tz).isoformat()

    def ts(self, when: datetime) -> float:
        """Epoch seconds of an aware datetime."""
        return when.timestamp()

    def day_hours(self, day: int) -> range:
        """Hour indexes of local day number `day` (0 = the first local day)."""
        idx = np.nonzero(self.day == day)[0]
        if len(idx) == 0:
            return range(0)
        return range(int(idx[0]), int(idx[-1]) + 1)

    def at(self, day: int, local_hour: int) -> int | None:
        """Hour index of local `day` at `local_hour`, or None when outside the timeline."""
        for h in self.day_hours(day):
            if self.local_hour[h] == local_hour:
                return h
        return None

    def span(self, h: int, hours: int) -> tuple[datetime, datetime]:
        """Start and end instants of `hours` hours starting at hour `h`."""
        return self.instant(h), self.instant(h + hours)
