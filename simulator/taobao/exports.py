"""生意参谋-shaped export files of the simulated shop: traffic by source and search keywords,
and the 客服接待明细 (one row per customer-service chat) of 千牛's reception centre.

One file per local day and dataset, as a seller downloads them: even days as XLSX, odd days
as GBK CSV, each with a title row and a date-range row above the header, thousands
separators and '%' rates. Also the promotions file of the exports folder (UTF-8 with BOM).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xlsxwriter

from simulator import datasets
from simulator.taobao.trades import CHINA, top_time

if TYPE_CHECKING:
    from simulator.simulation import Simulator

__all__ = ["SYCM_SOURCE", "write_exports"]

# simulator source -> 生意参谋 流量来源
SYCM_SOURCE = {
    "search": "手淘搜索",
    "recommend": "手淘推荐",
    "ads": "直通车",
    "direct": "自主访问",
    "social": "站外投放",
}
TRAFFIC_HEADER = [
    "日期",
    "小时",
    "流量来源",
    "访客数",
    "浏览量",
    "跳失率",
    "加购人数",
    "商品收藏人数",
]
CHAT_HEADER = ["会话ID", "买家", "咨询时间", "首次响应时间", "接待客服", "是否解决", "咨询商品编码"]
KEYWORD_HEADER = ["日期", "小时", "搜索词", "展现量", "点击量", "访客数", "支付买家数", "支付金额"]
PROMOTION_HEADER = [
    "promo_id",
    "name",
    "kind",
    "starts_at",
    "ends_at",
    "threshold_amount",
    "discount_amount",
    "sku_id",
    "promo_price",
    "stock_commitment",
    "updated_at",
]


def _count(value: int) -> str:
    return f"{value:,}"


def _traffic(sim: Simulator, h: int, day: str, hour: int) -> list[list[str]]:
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for row in datasets.traffic_rows(sim, h):
        s = sums[row["source"]]
        for i, name in enumerate(("visitors", "page_views", "bounces", "add_to_cart", "favorites")):
            s[i] += row[name]
    out = []
    for source, (vis, views, bounces, carts, favs) in sorted(sums.items()):
        rate = f"{100 * bounces / vis:.2f}%" if vis else "0.00%"
        out.append(
            [
                day,
                str(hour),
                SYCM_SOURCE.get(source, source),
                _count(vis),
                _count(views),
                rate,
                _count(carts),
                _count(favs),
            ]
        )
    return out


def _keywords(sim: Simulator, h: int, day: str, hour: int) -> list[list[str]]:
    return [
        [
            day,
            str(hour),
            r["keyword"],
            _count(r["impressions"]),
            _count(r["clicks"]),
            _count(r["visitors"]),
            _count(r["buyers"]),
            f"{r['pay_amount']:,.2f}",
        ]
        for r in datasets.keyword_rows(sim, h)
    ]


def _chats(sim: Simulator, day_hours: list[int]) -> list[list[str]]:
    """The day's chats as they stand a day later (a chat is closed within hours)."""
    clock = sim.clock
    day_start = int(clock.starts[day_hours[0]])
    day_end = int(clock.starts[day_hours[-1] + 1])
    start = datetime.fromtimestamp(day_start, CHINA)
    end = datetime.fromtimestamp(min(int(clock.starts[-1]), day_end + 86400), CHINA)
    latest: dict[str, dict[str, Any]] = {}
    for record in sim.records("service_chats", start, end):
        try:
            began = datetime.fromisoformat(str(record["started_at"])).timestamp()
        except (KeyError, TypeError, ValueError):
            continue  # the export's injected dirt
        if day_start <= began < day_end:
            latest[str(record["chat_id"])] = record
    rows = []
    for chat_id, r in sorted(latest.items(), key=lambda kv: str(kv[1]["started_at"])):
        responder = r.get("responder")
        rows.append(
            [
                chat_id,
                str(r["buyer_id"]),
                top_time(str(r["started_at"])) or "",
                top_time(r.get("first_response_at")) or "-",
                "店小蜜" if responder == "bot" else str(responder or "-"),
                "是" if r.get("resolved") is True else "否",
                str(r.get("sku_id") or ""),
            ]
        )
    return rows


def _write(path: Path, title: str, day: str, header: list[str], rows: list[list[str]]) -> Path:
    lines = [[title], [f"统计时间：{day} ~ {day}"], [], header, *rows]
    if path.suffix == ".xlsx":
        book = xlsxwriter.Workbook(str(path))
        # a fixed creation time keeps the same export byte-identical (one content hash)
        book.set_properties({"created": datetime(2026, 1, 1)})
        sheet = book.add_worksheet("数据")
        for r, line in enumerate(lines):
            sheet.write_row(r, 0, line)
        book.close()
    else:
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerows(lines)
        path.write_bytes(text.getvalue().encode("gbk"))
    return path


def write_exports(sim: Simulator, folder: Path, days: int | None = None) -> list[Path]:
    """Write the shop's daily traffic and keyword exports (the last `days`) and promotions."""
    folder.mkdir(parents=True, exist_ok=True)
    clock = sim.clock
    by_day: dict[str, list[int]] = defaultdict(list)
    for h in range(clock.hours):
        local = datetime.fromtimestamp(int(clock.starts[h]), CHINA)
        by_day[local.date().isoformat()].append(h)
    chosen = sorted(by_day)[-days:] if days else sorted(by_day)
    written = []
    for index, day in enumerate(chosen):
        suffix = ".xlsx" if index % 2 == 0 else ".csv"
        traffic: list[list[str]] = []
        keywords: list[list[str]] = []
        for h in by_day[day]:
            hour = datetime.fromtimestamp(int(clock.starts[h]), CHINA).hour
            traffic += _traffic(sim, h, day, hour)
            keywords += _keywords(sim, h, day, hour)
        for sub in ("traffic", "keywords", "service"):
            (folder / sub).mkdir(exist_ok=True)
        written.append(
            _write(
                folder / "service" / f"客服接待明细_{day}{suffix}",
                "千牛 接待中心 客服接待明细",
                day,
                CHAT_HEADER,
                _chats(sim, by_day[day]),
            )
        )
        written.append(
            _write(
                folder / "traffic" / f"流量来源_{day}{suffix}",
                "生意参谋 流量来源（实时·按小时）",
                day,
                TRAFFIC_HEADER,
                traffic,
            )
        )
        written.append(
            _write(
                folder / "keywords" / f"搜索词_{day}{suffix}",
                "生意参谋 搜索词（按小时）",
                day,
                KEYWORD_HEADER,
                keywords,
            )
        )
    written.append(_promotions(sim, folder / "promotions.csv"))
    return written


def _promotions(sim: Simulator, path: Path) -> Path:
    text = io.StringIO()
    out = csv.writer(text, lineterminator="\r\n")
    out.writerow(PROMOTION_HEADER)
    for _, record in datasets.promotion_rows(sim):
        items: list[dict[str, Any]] = record["items"] or [{}]
        for item in items:
            out.writerow(
                [
                    record["promo_id"],
                    record["name"],
                    record["kind"],
                    top_time(record["starts_at"]),
                    top_time(record["ends_at"]),
                    _amount(record["threshold_amount"]),
                    _amount(record["discount_amount"]),
                    item.get("sku_id", ""),
                    _amount(item.get("promo_price")),
                    item.get("stock_commitment", ""),
                    top_time(record["updated_at"]),
                ]
            )
    path.write_bytes(b"\xef\xbb\xbf" + text.getvalue().encode("utf-8"))
    return path


def _amount(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"
