"""Malformed, duplicated and over-wide records injected into an hour of an export."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from simulator.incidents import Defect
from simulator.rng import Stream, rng_for

__all__ = ["soil"]

Row = dict[str, Any]

# (kind, must the loader quarantine it?) in the order they are applied to chosen records.
_KINDS = (
    ("missing_field", True),
    ("bad_type", True),
    ("unknown_status", True),
    ("negative_number", True),
    ("bad_timestamp", True),
    ("duplicate", False),
    ("unknown_field", False),
    ("string_number", False),
)
_KEYS = {"orders": ("order_id", "sku_id"), "traffic": ("hour", "source", "sku_id")}


def _spoil(dataset: str, kind: str, row: Row) -> Row:
    """A damaged copy of `row`."""
    bad = dict(row)
    if dataset == "orders":
        if kind == "missing_field":
            del bad["status"]
        elif kind == "bad_type":
            bad["quantity"] = "two"
        elif kind == "unknown_status":
            bad["status"] = "pending_review"
        elif kind == "negative_number":
            bad["quantity"] = -abs(int(row["quantity"]))
        elif kind == "bad_timestamp":
            bad["created_at"] = "31/02/2026 25:61"
        elif kind == "unknown_field":
            bad["coupon_code"] = "VIP-88"
            bad["ext"] = {"channel": "app", "risk_score": 0.12}
        elif kind == "string_number":
            bad["pay_amount"] = f"{row['pay_amount']:.2f}"
    else:
        if kind == "missing_field":
            del bad["page_views"]
        elif kind == "bad_type":
            bad["visitors"] = "n/a"
        elif kind == "unknown_status":
            bad["source"] = 17
        elif kind == "negative_number":
            bad["bounces"] = -5
        elif kind == "bad_timestamp":
            bad["hour"] = "yesterday 10am"
        elif kind == "unknown_field":
            bad["device"] = "mobile"
        elif kind == "string_number":
            bad["visitors"] = str(row["visitors"])
    return bad


def soil(
    dataset: str, rows: list[Row], seed: int, h: int, rate: float, at: datetime
) -> tuple[list[Row], list[Defect]]:
    """Damage about `rate` of the rows (at least one of each kind); return rows and defects."""
    if dataset not in _KEYS or not rows:
        return rows, []
    rng = rng_for(seed, h * 8 + len(dataset), Stream.DIRT)
    count = min(len(rows), max(len(_KINDS), round(rate * len(rows))))
    chosen = sorted(rng.choice(len(rows), size=count, replace=False).tolist())
    out: list[Row] = []
    defects: list[Defect] = []
    pick = {i: _KINDS[n % len(_KINDS)] for n, i in enumerate(chosen)}
    for i, row in enumerate(rows):
        if i not in pick:
            out.append(row)
            continue
        kind, quarantine = pick[i]
        key = {f: str(row[f]) for f in _KEYS[dataset]}
        defects.append(Defect(dataset, kind, at, key, quarantine))
        if kind == "duplicate":
            out += [row, dict(row)]
        else:
            out.append(_spoil(dataset, kind, row))
    return out, defects
