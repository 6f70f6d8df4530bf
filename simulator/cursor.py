"""Opaque pagination cursors bound to the query they were issued for."""

from __future__ import annotations

import base64
import binascii
import hashlib

import orjson

from simulator.errors import BadRequest

__all__ = ["decode", "encode", "query_hash"]


def query_hash(*parts: str) -> str:
    """A short stable digest of a query's identity (dataset, window, shop)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def encode(offset: int, query: str) -> str:
    """The cursor for the page starting at `offset` of `query`."""
    raw = orjson.dumps({"o": offset, "q": query})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, query: str) -> int:
    """The offset a cursor points at; BadRequest if it is malformed or for another query."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = orjson.loads(raw)
        offset, owner = data["o"], data["q"]
    except (binascii.Error, ValueError, TypeError, KeyError, orjson.JSONDecodeError) as exc:
        raise BadRequest("malformed cursor") from exc
    if not isinstance(offset, int) or offset < 0 or not isinstance(owner, str):
        raise BadRequest("malformed cursor")
    if owner != query:
        raise BadRequest("cursor does not belong to this query (dataset, since and until)")
    return offset
