"""生意参谋 (Business Advisor) export files: traffic by source and search keywords (and the
客服接待明细 of service chats, sources/taobao/chats.py).

Sellers download these from 生意参谋 as XLSX or CSV (UTF-8 with BOM, or GBK), with a title and
a date-range row above the header, thousands separators and '%' rates. Headers are matched
by their Chinese names (tables.HEADERS, extended by `source.sycm_headers`). Times are China
time (UTC+8), as 生意参谋 shows them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from sources.taobao.chats import chat_records
from sources.taobao.client import CHINA
from sources.taobao.errors import SycmFileError

__all__ = [
    "EXCEL",
    "TEXT",
    "SycmTable",
    "decode",
    "parse_export",
    "read_cells",
]

EXCEL = (".xlsx", ".xls", ".xlsm")
TEXT = (".csv",)
HEADER_SCAN = 30  # rows searched for the header, below titles and date ranges
SHOP_SKU = "shop"  # traffic by source covers the whole shop, not one SKU
NEEDS = {
    "traffic": ("source", "visitors", "page_views", "bounce_rate", "add_to_cart", "favorites"),
    "keywords": ("keyword", "impressions", "clicks", "visitors", "buyers", "pay_amount"),
}
COUNTS = ("visitors", "page_views", "add_to_cart", "favorites", "impressions", "clicks", "buyers")
_DATE = re.compile(r"(\d{4})[-/年.]?(\d{1,2})[-/月.]?(\d{1,2})")
_HOUR = re.compile(r"\d{1,2}")


@dataclass(frozen=True)
class SycmTable:
    """One export file as export-API records of one dataset."""

    dataset: str
    records: list[dict[str, Any]]


def decode(data: bytes) -> str:
    """The text of a CSV export: UTF-8 (with or without BOM), else GBK (read as GB18030)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise SycmFileError("neither UTF-8 nor GBK text") from None


def read_cells(path: Path) -> list[list[str | None]]:
    """Every non-empty row of the file's first sheet as strings (Excel through calamine)."""
    suffix = path.suffix.lower()
    if suffix in EXCEL:
        try:
            frame = pl.read_excel(path, engine="calamine", has_header=False, infer_schema_length=0)
        except Exception as exc:  # the reader's own errors vary by file damage
            raise SycmFileError(f"not a readable Excel workbook ({type(exc).__name__})") from None
        return [list(row) for row in frame.iter_rows()]
    if suffix in TEXT:
        text = decode(path.read_bytes())
        return [list(row) for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
    raise SycmFileError(f"unsupported file type {suffix or '(none)'} (use .xlsx or .csv)")


def _header_row(
    rows: list[list[str | None]], headers: Mapping[str, str]
) -> tuple[int, dict[int, str]]:
    for index, row in enumerate(rows[:HEADER_SCAN]):
        found = {
            i: headers[str(cell).strip()]
            for i, cell in enumerate(row)
            if cell is not None and str(cell).strip() in headers
        }
        if len(found) >= 2:
            return index, found
    raise SycmFileError("no header row with known 生意参谋 column names in the first rows")


def _title_date(rows: list[list[str | None]]) -> str | None:
    for row in rows:
        for cell in row:
            match = _DATE.search(str(cell or ""))
            if match:
                return "-".join(match.groups())
    return None


def _number(column: str) -> pl.Expr:
    """A 生意参谋 number: thousands separators dropped, '-' as zero, '12.5%' as 0.125."""
    text = pl.col(column).cast(pl.String).str.strip_chars().str.replace_all(r"[,，\s]", "")
    text = pl.when(text.is_in(["-", "--", ""])).then(pl.lit("0")).otherwise(text)
    percent = text.str.ends_with("%")
    value = text.str.strip_chars_end("%").cast(pl.Float64, strict=False)
    return pl.when(percent).then(value / 100).otherwise(value)


def parse_export(path: Path, headers: Mapping[str, str], sources: Mapping[str, str]) -> SycmTable:
    """Read one export file into records, or raise SycmFileError saying why it cannot be read."""
    rows = read_cells(path)
    at, columns = _header_row(rows, headers)
    fields = set(columns.values())
    if "chat_started" in fields:
        return _chats(rows[at + 1 :], columns)
    if "keyword" in fields:
        dataset = "keywords"
    elif "source" in fields:
        dataset = "traffic"
    else:
        raise SycmFileError(
            "neither a traffic-source export (流量来源, 访客数) nor a keyword export (搜索词)"
        )
    missing = [f for f in NEEDS[dataset] if f not in fields]
    if missing:
        names = {f: h for h, f in headers.items()}
        raise SycmFileError(
            f"{dataset} export lacks the columns " + ", ".join(names.get(f, f) for f in missing)
        )
    body = rows[at + 1 :]
    data = {
        field: [row[i] if i < len(row) else None for row in body] for i, field in columns.items()
    }
    frame = pl.DataFrame(data, schema={f: pl.String for f in data})
    if "date" not in frame.columns:
        day = _title_date(rows[:at])
        if day is None:
            raise SycmFileError("no 日期 column and no date in the title rows")
        frame = frame.with_columns(date=pl.lit(day))
    try:
        records = _records(frame, dataset, sources)
    except (ValueError, pl.exceptions.PolarsError) as exc:
        raise SycmFileError(f"unreadable values: {str(exc).splitlines()[0][:160]}") from None
    return SycmTable(dataset, records)


def _chats(body: list[list[str | None]], columns: dict[int, str]) -> SycmTable:
    data = {
        field: [row[i] if i < len(row) else None for row in body] for i, field in columns.items()
    }
    frame = pl.DataFrame(data, schema={f: pl.String for f in data})
    try:
        return SycmTable("service_chats", chat_records(frame))
    except ValueError as exc:
        raise SycmFileError(f"unreadable values: {str(exc)[:160]}") from None


def _records(frame: pl.DataFrame, dataset: str, sources: Mapping[str, str]) -> list[dict[str, Any]]:
    numbers = [c for c in frame.columns if c not in ("date", "hour", "source", "keyword")]
    keyless = frame.filter(pl.col(NEEDS[dataset][0]).is_null()).height
    if keyless:
        raise ValueError(f"{keyless} rows without a {NEEDS[dataset][0]}")
    frame = frame.with_columns([_number(c).alias(c) for c in numbers])
    bad = frame.filter(pl.any_horizontal(pl.col(numbers).is_null()))
    if bad.height:
        raise ValueError(f"{bad.height} rows with a number that cannot be read")
    hourly = "hour" in frame.columns
    out = []
    for row in frame.iter_rows(named=True):
        start = _start(str(row["date"]), row.get("hour") if hourly else None)
        record: dict[str, Any]
        if dataset == "traffic":
            visitors = int(row["visitors"])
            name = str(row["source"]).strip()
            record = {
                "hour": start,
                "source": sources.get(name, name),
                "sku_id": SHOP_SKU,
                "visitors": visitors,
                "page_views": int(row["page_views"]),
                "bounces": round(row["bounce_rate"] * visitors),
                "add_to_cart": int(row["add_to_cart"]),
                "favorites": int(row["favorites"]),
                "sycm_source": name,
                "bounce_rate": row["bounce_rate"],
            }
        else:
            record = {
                "hour": start,
                "keyword": str(row["keyword"]).strip(),
                "impressions": int(row["impressions"]),
                "clicks": int(row["clicks"]),
                "visitors": int(row["visitors"]),
                "buyers": int(row["buyers"]),
                "pay_amount": round(float(row["pay_amount"]), 2),
            }
        for extra in ("pay_amount", "buyers", "conversion_rate", "aov"):
            if extra in row and extra not in record:
                record[extra] = row[extra]
        record["grain"] = "hour" if hourly else "day"
        out.append(record)
    return out


def _start(day: str, hour: Any) -> str:
    match = _DATE.search(day)
    if match is None:
        raise ValueError(f"not a date: {day[:40]!r}")
    y, m, d = (int(g) for g in match.groups())
    start = datetime(y, m, d, tzinfo=CHINA)
    if hour is not None:
        found = _HOUR.search(str(hour))
        if found is None or not 0 <= int(found.group()) <= 23:
            raise ValueError(f"not an hour of the day: {str(hour)[:20]!r}")
        start += timedelta(hours=int(found.group()))
    return start.isoformat()
