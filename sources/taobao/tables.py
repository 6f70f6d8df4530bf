"""The mapping tables of the taobao source: trade statuses, 生意参谋 headers and traffic sources.

docs/sources/taobao.md shows the same tables; users extend the header and source tables in
config (`source.sycm_headers`, `source.sycm_sources`).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "CORE_SOURCES",
    "FIELDS",
    "HEADERS",
    "SOURCES",
    "STEP_PAID",
    "TRADE_STATUS",
    "check_sources",
    "core_status",
]

# TOP trade / sub-order status -> core order status (DESIGN.md §3).
# A closed trade that had been paid was refunded; one closed before payment was cancelled.
TRADE_STATUS: dict[str, str] = {
    "TRADE_NO_CREATE_PAY": "created",  # 没有创建支付宝交易
    "WAIT_BUYER_PAY": "created",  # 等待买家付款
    "PAY_PENDING": "created",  # 付款确认中
    "WAIT_PRE_AUTH_CONFIRM": "created",  # 0元购合约中
    "WAIT_SELLER_SEND_GOODS": "paid",  # 买家已付款, 等待卖家发货
    "SELLER_CONSIGNED_PART": "paid",  # 卖家部分发货 (each sub-order carries its own status)
    "WAIT_BUYER_CONFIRM_GOODS": "shipped",  # 卖家已发货, 等待买家确认收货
    "TRADE_BUYER_SIGNED": "shipped",  # 买家已签收 (货到付款)
    "TRADE_FINISHED": "completed",  # 交易成功
    "TRADE_CLOSED": "refunded",  # 付款以后用户退款成功, 交易自动关闭
    "TRADE_CLOSED_BY_TAOBAO": "cancelled",  # 付款以前, 卖家或买家主动关闭交易
}

# step (presale) trades: only a fully paid one counts as paid, as 生意参谋 counts it
STEP_PAID = "FRONT_PAID_FINAL_PAID"  # 定金和尾款都付

# 生意参谋 header (as exported) -> shoppulse field
HEADERS: dict[str, str] = {
    "统计日期": "date",
    "日期": "date",
    "小时": "hour",
    "时段": "hour",
    "统计小时": "hour",
    "流量来源": "source",
    "来源名称": "source",
    "访客数": "visitors",
    "浏览量": "page_views",
    "跳失率": "bounce_rate",
    "加购人数": "add_to_cart",
    "商品加购人数": "add_to_cart",
    "商品收藏人数": "favorites",
    "收藏人数": "favorites",
    "支付金额": "pay_amount",
    "支付买家数": "buyers",
    "支付转化率": "conversion_rate",
    "客单价": "aov",
    "搜索词": "keyword",
    "展现量": "impressions",
    "点击量": "clicks",
    "点击次数": "clicks",
    # 客服接待明细 (one row per chat): service_chats
    "会话ID": "chat_id",
    "买家": "buyer",
    "买家昵称": "buyer",
    "咨询时间": "chat_started",
    "开始时间": "chat_started",
    "首次响应时间": "first_response",
    "接待客服": "responder",
    "客服": "responder",
    "是否解决": "resolved",
    "咨询商品编码": "chat_sku",
    "商家编码": "chat_sku",
}
FIELDS = frozenset(HEADERS.values())

# 生意参谋 traffic source (流量来源) -> shoppulse source
SOURCES: dict[str, str] = {
    "手淘搜索": "search",
    "手淘推荐": "recommend",
    "直通车": "ads",
    "自主访问": "direct",
    "站外投放": "social",
}
CORE_SOURCES = frozenset(SOURCES.values())


def check_sources(extra: Mapping[str, str]) -> None:
    """Raise ValueError naming the key when a configured source name maps to nothing known."""
    for name, source in extra.items():
        if not source or not source.replace("_", "").isalnum():
            raise ValueError(f"source.sycm_sources.{name}: {source!r} is not a source name")


def core_status(trade_status: str, order_status: str | None, refund_status: str | None) -> str:
    """The core status of a sub-order: a finished refund wins, then its own status, then the
    trade's; an unknown status passes through so staging quarantines it with the reason."""
    if refund_status == "SUCCESS":
        return "refunded"
    status = order_status or trade_status
    return TRADE_STATUS.get(status, status)
