"""Promotions from a file in the exports folder, since TOP has no general call that serves them.

`promotions.csv` (or .xlsx), one row per promotion and SKU, columns:
promo_id, name, kind (discount | full_reduction | flash_sale | presale), starts_at, ends_at,
threshold_amount, discount_amount, sku_id, promo_price, stock_commitment, updated_at.
Times are 'yyyy-MM-dd HH:mm:ss' in China time (UTC+8) or ISO-8601 with an offset; amounts in
yuan; empty cells are nulls. Rows of one promo_id become one promotion with its items.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sources.taobao.client import CHINA
from sources.taobao.errors import SycmFileError
from sources.taobao.sycm import read_cells

__all__ = ["PROMOTION_COLUMNS", "is_promotions_file", "read_promotions"]

PROMOTION_COLUMNS = (
    "promo_id", "name", "kind", "starts_at", "ends_at", "threshold_amount", "discount_amount",
    "sku_id", "promo_price", "stock_commitment", "updated_at",
)  # fmt: skip


def is_promotions_file(path: Path) -> bool:
    """Whether a file of the exports folder is the promotions file (by its name)."""
    return path.stem.lower().startswith("promotions")


def read_promotions(path: Path) -> list[dict[str, Any]]:
    """The promotion records (DESIGN.md §3) of a promotions file."""
    rows = read_cells(path)
    if not rows:
        raise SycmFileError("the promotions file is empty")
    header = [str(c or "").strip() for c in rows[0]]
    missing = [c for c in PROMOTION_COLUMNS if c not in header]
    if missing:
        raise SycmFileError("the promotions file lacks the columns " + ", ".join(missing))
    at = {name: header.index(name) for name in PROMOTION_COLUMNS}
    promos: dict[str, dict[str, Any]] = {}
    for row in rows[1:]:
        cell = {
            name: (str(row[i]).strip() or None) if i < len(row) and row[i] is not None else None
            for name, i in at.items()
        }
        if cell["promo_id"] is None:
            continue
        promo = promos.setdefault(
            cell["promo_id"],
            {
                "promo_id": cell["promo_id"],
                "name": cell["name"],
                "kind": cell["kind"],
                "starts_at": _time(cell["starts_at"]),
                "ends_at": _time(cell["ends_at"]),
                "threshold_amount": cell["threshold_amount"],
                "discount_amount": cell["discount_amount"],
                "items": [],
                "updated_at": _time(cell["updated_at"]),
            },
        )
        if cell["sku_id"] is not None:
            promo["items"].append(
                {
                    "sku_id": cell["sku_id"],
                    "promo_price": cell["promo_price"],
                    "stock_commitment": _int(cell["stock_commitment"]),
                }
            )
    return list(promos.values())


def _int(value: str | None) -> int | str | None:
    try:
        return None if value is None else int(float(value.replace(",", "")))
    except ValueError:
        return value  # staging quarantines the promotion with the reason


def _time(value: str | None) -> str | None:
    if value is None:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=CHINA).isoformat()
        except ValueError:
            continue
    return value  # ISO-8601 passes as is; anything else is quarantined by staging
