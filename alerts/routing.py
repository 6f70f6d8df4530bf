"""Routes: which channels an alert goes to, by exact and regex label matchers."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from alerts.errors import RouteError
from alerts.settings import RouteSettings

__all__ = ["route_matches", "select_channels"]


@lru_cache(maxsize=256)
def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise RouteError(f"{where}: invalid regular expression {pattern!r}: {exc}") from None


def route_matches(route: RouteSettings, labels: Mapping[str, str], index: int = 0) -> bool:
    """Every `match` label equal and every `match_re` label fully matched (missing label = '')."""
    for key, value in route.match.items():
        if labels.get(key, "") != value:
            return False
    for key, pattern in route.match_re.items():
        # anchored like Alertmanager's matchers: `crit.*` must match the whole value
        regex = _compile(pattern, f"routes.{index}.match_re.{key}")
        if regex.fullmatch(labels.get(key, "")) is None:
            return False
    return True


def select_channels(
    labels: Mapping[str, str], routes: Sequence[RouteSettings], channels: Sequence[str]
) -> list[str]:
    """Channel names for an alert: first matching route (and later ones while `continue`),
    or every channel when no route matches."""
    chosen: list[str] = []
    matched = False
    for index, route in enumerate(routes):
        if not route_matches(route, labels, index):
            continue
        matched = True
        chosen.extend(name for name in route.channels if name not in chosen)
        if not route.continue_:
            break
    return chosen if matched else list(dict.fromkeys(channels))
