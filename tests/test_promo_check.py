"""`shoppulse promo check`: a registration sheet audited against a real warehouse, with QR
codes found by zxing-cpp in generated images."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import yaml
import zxingcpp
from PIL import Image
from typer.testing import CliRunner

from flows.cli import app
from flows.errors import RegistrationSheetError
from flows.images import find_qr_codes
from flows.pipeline import run_hour
from flows.promo_check import check_promotion, check_sheet, read_sheet
from flows.settings import Settings, parse_settings
from flows.warehouse import Warehouse
from sources import make_source
from tests.factories import promotion

UNTIL = datetime(2026, 11, 10, 4, tzinfo=UTC)  # 12:00 on 11-10 in Shanghai
T = "2026-11-10T11:00:00+08:00"
HEADER = ["sku_id", "campaign_price", "postage", "committed_stock", "main_image"]


def product(sku: str, low: float | None) -> dict[str, Any]:
    return {
        "sku_id": sku, "title": sku, "category": "tools", "list_price": 120.0,
        "lowest_price_90d": low, "safety_stock": 5, "updated_at": "2026-10-01T09:00:00+08:00",
    }  # fmt: skip


def stock(sku: str, on_hand: int) -> dict[str, Any]:
    return {"snapshot_at": T, "sku_id": sku, "warehouse": "WH1", "on_hand": on_hand, "reserved": 0}


def photo(path: Path, qr: str | None = None) -> str:
    """A product-photo-like gradient, with a QR code pasted in a corner when asked."""
    x = np.linspace(40, 230, 480, dtype=np.float64)
    pixels = np.stack([np.add.outer(x, x[::-1]) / 2] * 3, axis=-1).astype(np.uint8)
    if qr is not None:
        code = np.asarray(
            zxingcpp.create_barcode(qr, zxingcpp.BarcodeFormat.QRCode).to_image(scale=4)
        )
        h, w = code.shape
        pixels[480 - h - 20 : 480 - 20, 480 - w - 20 : 480 - 20] = code[..., None]
    Image.fromarray(pixels).save(path)
    return path.name


def write_jsonl(folder: Path, rows: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True)
    (folder / "part.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    exports = tmp_path / "exports"
    write_jsonl(
        exports / "products",
        [product(s, 80.0) for s in ("SKU1", "SKU2", "SKU3", "SKU4", "SKU5", "SKU6")],
    )
    write_jsonl(exports / "inventory", [stock(s, 100) for s in ("SKU1", "SKU2", "SKU3", "SKU5")]
                + [stock("SKU4", 50), stock("SKU6", 100)])  # fmt: skip
    write_jsonl(
        exports / "promotions",
        [
            # another live promotion already holds 30 of SKU4's 50 units
            promotion(
                "P-OTHER",
                starts_at="2026-11-10T20:00:00+08:00",
                ends_at="2026-11-12T00:00:00+08:00",
                items=[{"sku_id": "SKU4", "promo_price": 99.0, "stock_commitment": 30}],
                updated_at="2026-11-09T09:00:00+08:00",
            ),
            # the seed's wrong full reduction: 50 off a 30 threshold
            promotion(
                "P-FR",
                kind="full_reduction",
                starts_at="2026-11-10T00:00:00+08:00",
                ends_at="2026-11-12T00:00:00+08:00",
                threshold_amount=30.0,
                discount_amount=50.0,
                items=[{"sku_id": "SKU5", "promo_price": 120.0, "stock_commitment": 0}],
                updated_at="2026-11-09T09:00:00+08:00",
            ),
        ],
    )
    s = parse_settings(
        {
            "shop": {"name": "demo-shop", "timezone": "Asia/Shanghai"},
            "source": {
                "kind": "files",
                "path": str(exports),
                "datasets": ["products", "promotions", "inventory", "orders"],
            },
            "warehouse": {"path": str(tmp_path / "shop.duckdb")},
        },
        {},
    )
    with Warehouse(s.warehouse.path) as wh:
        run_hour(wh, s, make_source(s.source), UNTIL)
    return s


def sheet(tmp_path: Path) -> Path:
    """One failing row per check, and one row that passes them all."""
    rows = [
        ["SKU1", "89.90", "0", "40", photo(tmp_path / "sku1.png")],
        ["SKU2", "89.90", "8", "40", photo(tmp_path / "sku2.png")],
        ["SKU3", "69.00", "0", "40", photo(tmp_path / "sku3.png")],
        ["SKU4", "89.90", "0", "40", photo(tmp_path / "sku4.png")],
        ["SKU5", "89.90", "0", "40", photo(tmp_path / "sku5.png")],
        ["SKU6", "89.90", "0", "40", photo(tmp_path / "sku6.png", "https://t.cn/shop")],
    ]
    path = tmp_path / "registration.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([HEADER, *rows])
    return path


def test_zxing_finds_the_qr_code_in_a_photo_and_nothing_in_a_plain_one(tmp_path: Path) -> None:
    photo(tmp_path / "with.png", "https://t.cn/shop")
    photo(tmp_path / "without.png")
    assert find_qr_codes(Image.open(tmp_path / "with.png")) == ["https://t.cn/shop"]
    assert find_qr_codes(Image.open(tmp_path / "without.png")) == []


def test_one_failing_row_per_check(settings: Settings, tmp_path: Path) -> None:
    result = check_sheet(settings, sheet(tmp_path))
    failed = {(sku, check) for sku, check, status, _ in result.iter_rows() if status == "fail"}
    assert failed == {
        ("SKU2", "postage_included"),
        ("SKU3", "price_90d_low"),
        ("SKU4", "committed_stock"),
        ("SKU5", "full_reduction"),
        ("SKU6", "main_image_qr"),
    }
    assert result.height == 6 * 5
    detail = {(r["sku_id"], r["check"]): r["detail"] for r in result.to_dicts()}
    assert "20 free" in detail[("SKU4", "committed_stock")]
    assert "discount 50.00 >= threshold 30.00" in detail[("SKU5", "full_reduction")]


def test_xlsx_sheet_and_unreadable_images(settings: Settings, tmp_path: Path) -> None:
    pl.DataFrame(
        [
            ["SKU1", 89.9, 0.0, 40, photo(tmp_path / "ok.png")],
            ["SKU3", 95.0, None, 10, "missing.png"],
        ],
        schema=HEADER,
        orient="row",
    ).write_excel(tmp_path / "registration.xlsx")
    result = check_sheet(settings, tmp_path / "registration.xlsx")
    status = {(r["sku_id"], r["check"]): r["status"] for r in result.to_dicts()}
    assert status[("SKU1", "main_image_qr")] == "pass"
    assert status[("SKU3", "postage_included")] == "skip"
    assert status[("SKU3", "main_image_qr")] == "fail"


def test_a_sheet_with_a_bad_value_names_the_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("sku_id,campaign_price,postage,committed_stock,main_image\nSKU1,9.9,0,lots,\n")
    with pytest.raises(RegistrationSheetError, match="row 2: committed_stock unreadable"):
        read_sheet(path)
    path.write_text("sku_id,campaign_price\nSKU1,9.9\n")
    with pytest.raises(RegistrationSheetError, match="missing column"):
        read_sheet(path)


def test_a_registered_promotion_is_checked_from_the_warehouse(settings: Settings) -> None:
    result = check_promotion(settings, "P-OTHER")
    status = {r["check"]: r["status"] for r in result.to_dicts()}
    # its own 30 units are not "another promotion's"; no postage or image in the data
    assert status == {
        "postage_included": "skip",
        "price_90d_low": "pass",
        "committed_stock": "pass",
        "full_reduction": "pass",
        "main_image_qr": "skip",
    }


def test_cli_table_json_and_exit_status(settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "shoppulse.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "shop": {"name": "demo-shop", "timezone": "Asia/Shanghai"},
                "source": {"kind": "files", "path": str(tmp_path / "exports")},
                "warehouse": {"path": str(settings.warehouse.path)},
            }
        )
    )
    path = sheet(tmp_path)
    runner = CliRunner()
    args = ["promo", "check", str(path), "-c", str(config)]
    table = runner.invoke(app, args)
    assert table.exit_code == 1
    assert "FAIL SKU6 main_image_qr: QR code in sku6.png" in table.output
    as_json = runner.invoke(app, [*args, "--format", "json"])
    assert as_json.exit_code == 1
    body = json.loads(as_json.stdout)
    assert body["ok"] is False and body["failures"] == 5 and len(body["checks"]) == 30
    ok = runner.invoke(app, ["promo", "check", "--promotion", "P-OTHER", "-c", str(config)])
    assert ok.exit_code == 0, ok.output
