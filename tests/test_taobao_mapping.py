"""TOP trades to export-API order lines: the status table, presales, postage, items."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sources.taobao.items import inventory_records, live_snapshot, product_records
from sources.taobao.tables import TRADE_STATUS
from sources.taobao.trades import order_records


def trade(**over: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "tid": 2231958349,
        "status": "WAIT_SELLER_SEND_GOODS",
        "buyer_open_uid": "AAHk5d-EAAeGwJedwSFu0XXX",
        "created": "2026-11-11 00:03:12",
        "pay_time": "2026-11-11 00:04:40",
        "modified": "2026-11-11 00:04:40",
        "payment": "179.80",
        "post_fee": "0.00",
        "orders": [
            {
                "oid": 1,
                "num_iid": 9,
                "sku_id": 7,
                "outer_sku_id": "SKU1007",
                "num": 2,
                "price": "89.90",
                "payment": "179.80",
                "status": "WAIT_SELLER_SEND_GOODS",
            },
        ],
    }
    record.update(over)
    return record


def test_a_paid_trade_becomes_one_line_per_sub_order() -> None:
    (line,) = order_records(trade())
    assert line["order_id"] == "2231958349" and line["sku_id"] == "SKU1007"
    assert line["buyer_id"] == "AAHk5d-EAAeGwJedwSFu0XXX"
    assert (line["quantity"], line["unit_price"], line["pay_amount"]) == (2, "89.90", "179.80")
    assert line["status"] == "paid"
    # TOP times are China time without an offset; records carry it
    assert line["created_at"] == "2026-11-11T00:03:12+08:00"
    assert line["paid_at"] == "2026-11-11T00:04:40+08:00"
    assert line["source"] == "unattributed" and line["promo_id"] is None


@pytest.mark.parametrize(
    ("status", "refund", "paid", "core"),
    [
        ("WAIT_BUYER_PAY", None, False, "created"),
        ("TRADE_NO_CREATE_PAY", None, False, "created"),
        ("WAIT_SELLER_SEND_GOODS", None, True, "paid"),
        ("SELLER_CONSIGNED_PART", None, True, "paid"),
        ("WAIT_BUYER_CONFIRM_GOODS", None, True, "shipped"),
        ("TRADE_BUYER_SIGNED", None, True, "shipped"),
        ("TRADE_FINISHED", None, True, "completed"),
        ("TRADE_FINISHED", "SUCCESS", True, "refunded"),
        ("WAIT_BUYER_CONFIRM_GOODS", "WAIT_SELLER_AGREE", True, "shipped"),
        ("TRADE_CLOSED", None, True, "refunded"),
        ("TRADE_CLOSED", None, False, "cancelled"),
        ("TRADE_CLOSED_BY_TAOBAO", None, False, "cancelled"),
    ],
)
def test_status_table(status: str, refund: str | None, paid: bool, core: str) -> None:
    order = {**trade()["orders"][0], "status": status, "refund_status": refund}
    (line,) = order_records(
        trade(status=status, orders=[order], pay_time="2026-11-11 00:04:40" if paid else None)
    )
    assert line["status"] == core


def test_every_documented_status_maps_to_a_core_status() -> None:
    assert set(TRADE_STATUS.values()) <= {
        "created",
        "paid",
        "shipped",
        "completed",
        "cancelled",
        "refunded",
    }


def test_an_unknown_status_passes_through_for_staging_to_quarantine() -> None:
    order = {**trade()["orders"][0], "status": "SOMETHING_NEW"}
    (line,) = order_records(trade(status="SOMETHING_NEW", orders=[order]))
    assert line["status"] == "SOMETHING_NEW"


def test_a_presale_counts_as_paid_only_when_fully_paid() -> None:
    deposit = trade(type="step", step_trade_status="FRONT_PAID_FINAL_NOPAID")
    (line,) = order_records(deposit)
    assert line["status"] == "created" and line["paid_at"] is None
    full = trade(type="step", step_trade_status="FRONT_PAID_FINAL_PAID")
    (line,) = order_records(full)
    assert line["status"] == "paid" and line["paid_at"] == "2026-11-11T00:04:40+08:00"


def test_postage_is_shared_so_lines_add_up_to_the_trade_payment() -> None:
    orders = [
        {**trade()["orders"][0], "oid": 1, "outer_sku_id": "A", "payment": "100.00"},
        {**trade()["orders"][0], "oid": 2, "outer_sku_id": "B", "payment": "50.00"},
    ]
    lines = order_records(trade(payment="160.00", post_fee="10.00", orders=orders))
    assert [line["pay_amount"] for line in lines] == ["106.67", "53.33"]


def test_unsimplified_lists_are_read() -> None:
    lines = order_records(trade(orders={"order": trade()["orders"]}))
    assert len(lines) == 1


ITEM = {
    "num_iid": 9,
    "title": "扳手",
    "cid": 50012,
    "approve_status": "onsale",
    "price": "119.00",
    "num": 70,
    "outer_id": "I9",
    "modified": "2026-10-01 09:00:00",
    "skus": [
        {
            "sku_id": 7,
            "outer_id": "SKU1007",
            "price": "119.00",
            "quantity": 61,
            "with_hold_quantity": 3,
            "modified": "2026-10-02 09:00:00",
        },
    ],
}


def test_items_become_products_and_stock_per_sku() -> None:
    (product,) = product_records([ITEM], safety_stock=5)
    assert product["sku_id"] == "SKU1007" and product["list_price"] == "119.00"
    assert product["listing_status"] == "onsale" and product["safety_stock"] == 5
    assert product["updated_at"] == "2026-10-02T09:00:00+08:00"
    (stock,) = inventory_records([ITEM], datetime(2026, 11, 11, 2, tzinfo=UTC))
    assert (stock["on_hand"], stock["reserved"]) == (64, 3)


def test_stock_is_read_only_for_the_current_hour() -> None:
    until = datetime(2026, 11, 11, 2, tzinfo=UTC)
    assert live_snapshot(until, until.replace(minute=5)) == until.replace(hour=1)
    assert live_snapshot(until, until.replace(day=12)) is None


# -- reviews, shipments and returns ------------------------------------------------------------


def rate(**over: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "tid": 2231958349,
        "oid": 2231958350,
        "role": "buyer",
        "nick": "t***1",
        "ouid": "AAHk5d-EAAeGwJedwSFu0XXX",
        "result": "bad",
        "created": "2026-11-12 20:15:00",
        "content": "发错货了",
        "reply": None,
        "num_iid": 9,
    }
    record.update(over)
    return record


@pytest.mark.parametrize(("result", "rating"), [("good", 5), ("neutral", 3), ("bad", 1)])
def test_a_rating_becomes_a_review_with_stars(result: str, rating: int) -> None:
    from sources.taobao.reviews import review_records

    [review] = review_records([rate(result=result)], {"9": "SKU1007"}, {})
    assert review == {
        "review_id": "2231958349-2231958350",
        "order_id": "2231958349",
        "sku_id": "SKU1007",
        "buyer_id": "AAHk5d-EAAeGwJedwSFu0XXX",
        "rating": rating,
        "text": "发错货了",
        "has_images": False,  # TradeRate has no pictures, IP or device
        "ip_hash": None,
        "created_at": "2026-11-12T20:15:00+08:00",
        "replied_at": None,
        "updated_at": "2026-11-12T20:15:00+08:00",
        "rate_result": result,
        "num_iid": 9,
    }


def test_a_reply_is_dated_when_first_seen_and_keeps_that_date(tmp_path: Any) -> None:
    from sources.taobao.reviews import ReplyLog, replied_ids, review_records

    log = ReplyLog(tmp_path / ".shoppulse")
    replied = rate(reply="抱歉，已为您补发")
    first = datetime(2026, 11, 12, 13, 59, 59, tzinfo=UTC)
    stamps = log.stamp(replied_ids([replied, rate(oid=1)]), first)
    assert stamps == {"2231958349-2231958350": first.isoformat()}
    # a later read of the same rating keeps the first date
    later = log.stamp(replied_ids([replied]), datetime(2026, 11, 13, 9, tzinfo=UTC))
    assert later == stamps
    [review] = review_records([replied], {}, later)
    assert review["replied_at"] == review["updated_at"] == first.isoformat()
    # an item with several SKUs (not in the single-SKU table) is named by the item
    assert review["sku_id"] == "9:"


def test_a_trade_with_a_promise_becomes_a_shipment_and_its_return_refund_joins_it() -> None:
    from sources.taobao.shipments import pending_refunds, returns_of, shipment_records

    shipped = {
        "tid": 5,
        "modified": "2026-11-15 10:00:00",
        "consign_time": "2026-11-11 09:00:00",
        "orders": [
            {"oid": 51, "est_con_time": "2026-11-12 00:00:00",
             "consign_time": "2026-11-11 09:00:00", "refund_id": 99,
             "refund_status": "WAIT_SELLER_CONFIRM_GOODS"},
            {"oid": 52, "est_con_time": "2026-11-11 12:00:00"},
        ],
    }  # fmt: skip
    earlier = dict(shipped, modified="2026-11-11 09:00:00")  # before the buyer asked
    no_promise = {"tid": 6, "modified": "2026-11-15 10:00:00", "orders": [{"oid": 61}]}
    refunds = [
        {"refund_id": 98, "tid": 5, "status": "SUCCESS", "created": "2026-11-13 08:00:00",
         "reason": "不想要了", "has_good_return": False},  # refund only: no return
        {"refund_id": 99, "tid": 5, "status": "WAIT_SELLER_CONFIRM_GOODS",
         "created": "2026-11-14 08:00:00", "reason": "收货地址填写错误", "has_good_return": True},
    ]  # fmt: skip
    assert pending_refunds([shipped], {}) == ["99"]
    known = returns_of(refunds)
    assert pending_refunds([shipped], known) == []
    assert shipment_records([shipped, earlier, no_promise], known) == [
        {
            "order_id": "5",
            "promised_ship_by": "2026-11-11T12:00:00+08:00",  # the earliest sub-order promise
            "shipped_at": "2026-11-11T09:00:00+08:00",
            "returned_at": "2026-11-14T08:00:00+08:00",
            "return_reason": "wrong_address",
            "updated_at": "2026-11-15T10:00:00+08:00",
            "refund_id": 99,
            "top_reason": "收货地址填写错误",
        },
        {
            "order_id": "5",
            "promised_ship_by": "2026-11-11T12:00:00+08:00",
            "shipped_at": "2026-11-11T09:00:00+08:00",
            "returned_at": None,
            "return_reason": None,
            "updated_at": "2026-11-11T09:00:00+08:00",
            "refund_id": None,
            "top_reason": None,
        },
    ]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("尺码不合适", "size_fit"),
        ("大小/尺寸与商品描述不符", "size_fit"),
        ("质量问题", "quality"),
        ("收到商品破损", "damaged"),
        ("商品与描述不符", "not_as_described"),
        ("收货地址填写错误", "wrong_address"),
        ("其他", "other"),
        ("七天无理由退换货", "七天无理由退换货"),
        (None, "unknown"),
    ],
)
def test_refund_reasons(text: str | None, reason: str) -> None:
    from sources.taobao.shipments import return_reason

    assert return_reason(text) == reason
