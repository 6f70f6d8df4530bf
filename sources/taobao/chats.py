"""Customer-service chats from a 客服接待明细 export (千牛 接待中心 / 赤兔 reception detail).

TOP offers no call for per-chat reception data: the wangwang eservice calls (chat records,
average waits, non-replies) answer per staff member and day, never for today, and a chat log
only as a file to download later. So chats come the way traffic does, as files the seller
downloads into the exports folder, one row per chat, read by their Chinese headers
(tables.HEADERS). Times are China time (UTC+8).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import polars as pl

from sources.taobao.client import CHINA
from sources.taobao.errors import SycmFileError

__all__ = ["BOTS", "CHAT_NEEDS", "chat_records"]

CHAT_NEEDS = ("buyer", "chat_started", "first_response", "responder")
# a reception by one of these is the shop's bot (阿里店小蜜 and the like), not an agent
BOTS = ("店小蜜", "机器人", "智能客服", "bot")
_TRUE = frozenset({"是", "已解决", "true", "1", "yes", "y"})
_TIME = "%Y-%m-%d %H:%M:%S"


def _instant(value: Any) -> str | None:
    text = str(value or "").strip().replace("/", "-")
    if not text or text in ("-", "--"):
        return None
    if len(text) == 16:  # minutes only
        text += ":00"
    try:
        return datetime.strptime(text, _TIME).replace(tzinfo=CHINA).isoformat()
    except ValueError:
        raise ValueError(f"not a time: {text[:40]!r}") from None


def _responder(value: Any) -> str | None:
    name = str(value or "").strip()
    if not name or name in ("-", "--"):
        return None
    return "bot" if any(b in name for b in BOTS) else name


def chat_records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The export-API service_chats records (DESIGN.md §3) of a reception-detail table."""
    missing = [f for f in CHAT_NEEDS if f not in frame.columns]
    if missing:
        raise SycmFileError("service_chats export lacks the columns " + ", ".join(missing))
    out = []
    for row in frame.iter_rows(named=True):
        buyer = str(row.get("buyer") or "").strip()
        if not buyer:
            raise ValueError("a row without a buyer")
        started = _instant(row["chat_started"])
        if started is None:
            raise ValueError(f"a chat of {buyer} without a start time")
        answered = _instant(row["first_response"])
        chat_id = str(row.get("chat_id") or "").strip() or _chat_id(buyer, started)
        out.append(
            {
                "chat_id": chat_id,
                "buyer_id": buyer,
                "started_at": started,
                "first_response_at": answered,
                "responder": _responder(row["responder"]) if answered else None,
                "resolved": str(row.get("resolved") or "").strip().lower() in _TRUE,
                "sku_id": str(row.get("chat_sku") or "").strip() or None,
                "updated_at": max(started, answered or started),
            }
        )
    return out


def _chat_id(buyer: str, started: str) -> str:
    # the export names no chat: one buyer's chat is the one that started at that second
    return "C" + hashlib.sha256(f"{buyer}|{started}".encode()).hexdigest()[:16]
