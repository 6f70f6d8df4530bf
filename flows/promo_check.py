"""`shoppulse promo check`: audit a campaign registration (a sheet, or a promotion already in
the warehouse) against the product, inventory and promotion data before it is submitted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from flows.errors import RegistrationSheetError
from flows.images import ImageUnreadableError, find_qr_codes, load_image
from flows.settings import Settings
from flows.warehouse import Warehouse, read_sql
from transforms.promo_check import SHEET_COLUMNS, registration_checks, registration_of
from transforms.rules import promo_audit
from transforms.rules.base import utc
from transforms.stockout import available_stock

__all__ = ["check_promotion", "check_sheet", "look_at_images", "read_sheet"]

SNAPSHOT_MAX_AGE = timedelta(days=7)
_NUMBERS = {"campaign_price": pl.Float64, "postage": pl.Float64, "committed_stock": pl.Int64}
_REQUIRED = ("sku_id", "campaign_price", "committed_stock")


def read_sheet(path: Path) -> pl.DataFrame:
    """A registration sheet (CSV or XLSX) as typed rows of SHEET_COLUMNS."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            raw = pl.read_csv(path, infer_schema=False)
        elif suffix in (".xlsx", ".xlsm"):
            raw = pl.read_excel(path, infer_schema_length=0)
        else:
            raise RegistrationSheetError(f"{path}: a registration sheet is .csv or .xlsx")
    except (OSError, pl.exceptions.PolarsError, ValueError) as exc:
        raise RegistrationSheetError(f"{path}: cannot read the sheet: {exc}") from None
    raw = raw.rename({c: c.strip().lower() for c in raw.columns})
    missing = [c for c in SHEET_COLUMNS if c not in raw.columns]
    if missing:
        raise RegistrationSheetError(f"{path}: missing column(s) {', '.join(missing)}")
    text = raw.select(
        [pl.col(c).cast(pl.String).str.strip_chars().replace("", None) for c in SHEET_COLUMNS]
    )
    typed = text.with_columns(
        [pl.col(c).cast(t, strict=False).alias(c) for c, t in _NUMBERS.items()]
    )
    for column in SHEET_COLUMNS:
        bad = text.with_row_index("row", offset=2).filter(
            (pl.col(column).is_null() & pl.lit(column in _REQUIRED))
            | (pl.col(column).is_not_null() & typed.get_column(column).is_null())
        )
        if bad.height:
            row, value = bad.row(0, named=True)["row"], bad.row(0, named=True)[column]
            what = "missing" if value is None else f"unreadable ({value!r})"
            raise RegistrationSheetError(f"{path}: row {row}: {column} {what}")
    return typed


def look_at_images(sheet: pl.DataFrame, base: Path) -> pl.DataFrame:
    """The sheet with `qr` (a QR code in the main image) and `image_error` per row."""
    qr: list[bool | None] = []
    errors: list[str | None] = []
    for where in sheet.get_column("main_image").to_list():
        if where is None:
            qr.append(None)
            errors.append(None)
            continue
        try:
            qr.append(bool(find_qr_codes(load_image(where, base))))
            errors.append(None)
        except ImageUnreadableError as exc:
            qr.append(None)
            errors.append(str(exc))
    return sheet.with_columns(
        qr=pl.Series(qr, dtype=pl.Boolean), image_error=pl.Series(errors, dtype=pl.String)
    )


def _as_of(wh: Warehouse, at: datetime | None) -> datetime:
    """The instant the data stands at: `at`, else the end of the last loaded inventory."""
    if at is not None:
        return at.astimezone(UTC)
    mark = wh.watermark("inventory")
    return (mark or datetime.now(UTC)).astimezone(UTC)


def _inputs(
    wh: Warehouse, as_of: datetime
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Products, stock, and the promotions live at `as_of` with their items."""
    inventory = utc(
        wh.frame(read_sql("reads/inventory_at"), {"as_of": as_of, "max_age": SNAPSHOT_MAX_AGE}),
        "snapshot_at",
    )
    paid = utc(
        wh.frame(
            read_sql("reads/paid_lines_in_span"),
            {"start": as_of - SNAPSHOT_MAX_AGE, "end": as_of},
        ),
        "paid_at",
    )
    promotions = wh.frame(
        read_sql("reads/rules_promotions"),
        {"start": as_of, "end": as_of + timedelta(days=366), "as_of": as_of},
    )
    items = wh.frame(
        read_sql("reads/rules_promotion_items"),
        {"promo_ids": promotions.get_column("promo_id").to_list()},
    )
    products = wh.frame(read_sql("reads/rules_products"), {"as_of": as_of})
    return products, available_stock(inventory, paid, as_of), promotions, items


def check_sheet(settings: Settings, path: Path, at: datetime | None = None) -> pl.DataFrame:
    """Every check of every SKU of a registration sheet: sku_id, check, status, detail."""
    sheet = look_at_images(read_sheet(path), path.parent)
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        data = _inputs(wh, _as_of(wh, at))
    return registration_checks(sheet, *data, price_floor_ratio=_floor(settings))


def _floor(settings: Settings) -> float | None:
    """The configured price floor (`rules.promo_audit.price_floor_ratio`), if any."""
    rule: promo_audit.PromoAuditSettings = settings.rules.of(promo_audit.ALERTNAME)
    return rule.price_floor_ratio


def check_promotion(settings: Settings, promo_id: str, at: datetime | None = None) -> pl.DataFrame:
    """The same checks for a promotion already in the warehouse (no postage or image there)."""
    with Warehouse(settings.warehouse.path, read_only=True) as wh:
        as_of = _as_of(wh, at)
        data = _inputs(wh, as_of)
        items = wh.frame(read_sql("reads/rules_promotion_items"), {"promo_ids": [promo_id]})
    if items.is_empty():
        raise RegistrationSheetError(f"promotion {promo_id} has no items in the warehouse")
    return registration_checks(
        registration_of(items), *data, promo_id=promo_id, price_floor_ratio=_floor(settings)
    )
