"""Seeded random streams: one generator per (seed, index, stream), independent of call order."""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = ["Stream", "rng_for"]


class Stream(IntEnum):
    """Independent random streams, so changing one kind of draw never shifts another."""

    CATALOG = 1
    PROMOS = 2
    DAYS = 3
    TRAFFIC = 4
    CONVERSION = 5
    ORDERS = 6
    TRAFFIC_DETAIL = 7
    KEYWORDS = 8
    DIRT = 9
    LATE = 10
    CHATS = 11
    REVIEWS = 12
    SHIPMENTS = 13
    ATTACK = 14


def rng_for(seed: int, index: int, stream: Stream) -> np.random.Generator:
    """A generator determined only by the seed, an index (usually the hour) and the stream."""
    return np.random.default_rng([seed & 0xFFFFFFFF, index & 0xFFFFFFFF, int(stream)])
