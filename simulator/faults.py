"""Export failures a scenario injects: outages (5xx) and rate-limit storms (429)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Fault", "FaultWindow"]

_OUTAGE_STATUSES = (503, 502, 500, 504)


@dataclass(frozen=True)
class Fault:
    """An error response the server sends instead of data."""

    status: int
    message: str
    retry_after: int | None = None


@dataclass(frozen=True)
class FaultWindow:
    """Requests whose `until` lies in (start_ts, end_ts] fail: the backend was down then.

    A pipeline asks for data up to the moment it runs, so `until` stands for the request's
    wall-clock time; a lookback window reaching back over an old outage is served normally.
    """

    kind: str  # "5xx" or "429"
    start_ts: int
    end_ts: int
    rejects: int = 0
    retry_after: int = 1

    def covers(self, until_ts: float) -> bool:
        """Whether a request asking up to `until_ts` falls in this window."""
        return self.start_ts < until_ts <= self.end_ts

    def fault(self, attempt: int) -> Fault | None:
        """The fault for the `attempt`-th identical request (0-based), or None to serve it."""
        if self.kind == "5xx":
            status = _OUTAGE_STATUSES[attempt % len(_OUTAGE_STATUSES)]
            return Fault(status, "export backend unavailable")
        if attempt < self.rejects:
            return Fault(429, "rate limit exceeded", self.retry_after)
        return None
