"""One bounded retry loop for every source's requests: attempts and total time from the
source's settings, the server's wait when it names one (Retry-After, a ban, a throttle),
else exponential back-off with jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from sources.settings import SourceSettings

__all__ = ["Retry", "backoff", "with_retries"]

T = TypeVar("T")


class Retry(NamedTuple):
    """An attempt that may be tried again: what went wrong, and how long to wait first
    (None: back off)."""

    problem: str
    wait: float | None = None


def backoff(attempt: int) -> float:
    """Full-jitter exponential back-off: up to 0.5 s × 2^(attempt − 1), at most 30 s."""
    return random.uniform(0, min(30.0, 0.5 * 2 ** (attempt - 1)))


def with_retries(
    attempt: Callable[[], T | Retry],
    settings: SourceSettings,
    *,
    sleep: Callable[[float], None],
    what: str,
    error: Callable[[str], Exception],
    on_retry: Callable[[str, float], None] | None = None,
) -> T:
    """The first attempt's result that is not a Retry; after `max_attempts`, or when the
    next wait would pass `max_retry_seconds`, raise `error` with a message saying that `what`
    failed after so many attempts in so long, and the last problem."""
    started = time.monotonic()
    count = 0
    while True:
        count += 1
        outcome = attempt()
        if not isinstance(outcome, Retry):
            return outcome
        elapsed = time.monotonic() - started
        wait = outcome.wait if outcome.wait is not None else backoff(count)
        if count >= settings.max_attempts or elapsed + wait > settings.max_retry_seconds:
            raise error(
                f"{what} failed after {count} attempts in {elapsed:.1f}s, last: {outcome.problem}"
            )
        if on_retry is not None:
            on_retry(outcome.problem, wait)
        sleep(wait)
