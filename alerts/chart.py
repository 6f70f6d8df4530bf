"""The week chart: GMV by day as bars, the week before as a line, as inline-SVG geometry.

Pure geometry in viewBox units; the HTML templates (the digest e-mail, the dashboard) draw it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["WeekChart", "nice_max", "week_chart"]


@dataclass(frozen=True)
class WeekChart:
    """Bars `(x, y, width, height, tooltip)`, the earlier line's points, axis labels."""

    width: int
    height: int
    bars: list[tuple[float, float, float, float, str]]
    earlier: str
    earlier_points: list[tuple[float, float]]
    x_labels: list[tuple[float, str]]
    y_labels: list[tuple[float, str]]
    baseline: float
    left: float
    right: float


def nice_max(value: float) -> float:
    """The axis top for a largest value: the next 1, 1.2, 1.5, 2, … 10 times a power of ten."""
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * exponent >= value:
            return step * exponent
    return 10 * exponent


def week_chart(
    days: Sequence[tuple[str, float | None, float | None]],
    money: Callable[[float], str],
    *,
    width: int = 420,
    height: int = 150,
) -> WeekChart:
    """Geometry for (label, value, value a week earlier) per day; a missing value draws nothing."""
    left, top, right, bottom = 56.0, 8.0, width - 8.0, height - 22.0
    values = [v for _, a, b in days for v in (a, b) if v is not None]
    peak = nice_max(max(values, default=0.0))
    n = max(len(days), 1)
    slot = (right - left) / n
    bar = slot * 0.6

    def y(value: float) -> float:
        return bottom - (bottom - top) * value / peak

    bars = []
    points = []
    for i, (label, value, earlier) in enumerate(days):
        centre = left + slot * (i + 0.5)
        if value is not None:
            bars.append(
                (centre - bar / 2, y(value), bar, bottom - y(value), f"{label}: {money(value)}")
            )
        if earlier is not None:
            points.append((round(centre, 1), round(y(earlier), 1)))
    return WeekChart(
        width=width,
        height=height,
        bars=[(round(a, 1), round(b, 1), round(c, 1), round(d, 1), t) for a, b, c, d, t in bars],
        earlier=" ".join(f"{x},{y_}" for x, y_ in points),
        earlier_points=points,
        x_labels=[(round(left + slot * (i + 0.5), 1), d[0]) for i, d in enumerate(days)],
        y_labels=[(round(y(peak * f), 1), money(peak * f)) for f in (0.0, 0.5, 1.0)],
        baseline=bottom,
        left=left,
        right=right,
    )
