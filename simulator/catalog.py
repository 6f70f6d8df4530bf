"""The shop's products, their prices over time, its buyers and its search keywords."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.clock import Clock
from simulator.rng import Stream, rng_for
from simulator.spec import ShopSpec

__all__ = ["Catalog", "Keyword", "ProductVersion"]

_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], float]] = {
    # category: (product nouns, search keywords, median list price in yuan)
    "tools": (
        ("活动扳手", "螺丝刀套装", "电钻", "卷尺", "工具箱"),
        ("扳手", "螺丝刀", "电钻", "工具箱"),
        89,
    ),
    "storage": (("收纳盒", "衣物收纳袋", "桌面置物架", "鞋盒"), ("收纳盒", "收纳袋", "置物架"), 39),
    "kitchen": (("不粘锅", "菜刀", "保鲜盒", "砧板"), ("不粘锅", "菜刀", "保鲜盒", "砧板"), 69),
    "cleaning": (("拖把", "清洁剂", "垃圾袋", "抹布"), ("拖把", "垃圾袋", "清洁剂"), 29),
    "bath": (("毛巾", "浴巾", "牙刷", "沐浴露"), ("毛巾", "浴巾", "电动牙刷"), 49),
    "lighting": (("LED台灯", "小夜灯", "灯泡", "灯带"), ("台灯", "小夜灯", "LED灯带"), 99),
}
_ADJECTIVES = ("家用", "加厚", "多功能", "便携", "大容量", "北欧风", "静音", "耐用")
_VARIANTS = ('8"', "S", "M", "L", "2件装", "3件装", "白色", "灰色", "升级款", "")


@dataclass(frozen=True)
class ProductVersion:
    """One published state of a product (a `products` export record)."""

    sku: int
    updated_ts: int
    list_cents: int
    lowest_cents: int | None


@dataclass(frozen=True)
class Keyword:
    """A search keyword and the category whose searchers it carries."""

    text: str
    category: int
    weight: float


class Catalog:
    """Static shop facts drawn from the seed: SKUs, popularity, prices, buyers, keywords."""

    def __init__(self, spec: ShopSpec, clock: Clock) -> None:
        rng = rng_for(spec.seed, 0, Stream.CATALOG)
        k = spec.skus
        names = list(_CATEGORIES)
        self.categories = names
        self.sku_ids = [f"SKU{1000 + i}" for i in range(k)]
        self.category = rng.integers(0, len(names), k)
        nouns = [_CATEGORIES[names[c]][0] for c in self.category]
        self.titles = [
            f"{_ADJECTIVES[rng.integers(len(_ADJECTIVES))]}{n[rng.integers(len(n))]}"
            f" {_VARIANTS[rng.integers(len(_VARIANTS))]}".strip()
            for n in nouns
        ]
        medians = np.array([_CATEGORIES[names[c]][2] for c in self.category], dtype=float)
        raw = medians * rng.lognormal(0.0, 0.45, k)
        # Shop prices end in 9 or .9, as sellers set them.
        yuan = np.maximum(9.9, np.where(raw < 30, np.round(raw) - 0.1, np.round(raw / 10) * 10 - 1))
        self.base_list_cents = np.round(yuan * 100).astype(np.int64)
        # Zipf-ish popularity, shuffled so the best seller is not always SKU1000.
        pop = 1.0 / np.arange(1, k + 1) ** 1.05
        self.popularity = rng.permutation(pop) / pop.sum()
        # Cheap items sell in multiples more often.
        self.extra_units = np.where(yuan < 30, 0.5, np.where(yuan < 100, 0.25, 0.1))
        low = rng.uniform(0.78, 0.95, k) * self.base_list_cents
        self.base_lowest: list[int | None] = [
            None if rng.random() < 0.08 else int(round(v / 10) * 10) for v in low
        ]
        daily_units = spec.visitors_per_day * 0.03 * 1.3 * (1 + self.extra_units) * self.popularity
        self.safety_stock = np.maximum(5, np.ceil(daily_units * 0.5)).astype(np.int64)
        self.daily_units = daily_units
        # Roughly one order per buyer-month keeps RFM frequencies realistic.
        self.buyer_pool = int(max(2_000, spec.visitors_per_day * spec.days * 0.03 * 0.35))
        weights = rng.pareto(1.5, self.buyer_pool) + 1.0
        self.buyer_cdf = np.cumsum(weights) / weights.sum()
        self.buyer_width = max(6, len(str(self.buyer_pool)))
        self.keywords: list[Keyword] = []
        for c, name in enumerate(names):
            for word in _CATEGORIES[name][1]:
                self.keywords.append(Keyword(word, c, float(rng.uniform(0.5, 2.0))))
        self._price_changes(spec, clock, rng)

    def _price_changes(self, spec: ShopSpec, clock: Clock, rng: np.random.Generator) -> None:
        """Initial product versions plus a few list-price changes inside the timeline."""
        k = spec.skus
        # The catalogue was published before the timeline, a minute apart per SKU.
        published = clock.t0 - 20 * 86_400 + 60 * np.arange(k)
        self.versions: list[ProductVersion] = [
            ProductVersion(i, int(published[i]), int(self.base_list_cents[i]), self.base_lowest[i])
            for i in range(k)
        ]
        self.changes: list[tuple[int, int, int]] = []  # (hour, sku, new list cents)
        if spec.days < 3:
            return
        for i in np.nonzero(rng.random(k) < 0.1)[0]:
            day = int(rng.integers(1, spec.days))
            h = clock.at(day, 9)
            if h is None:
                continue
            new = int(round(self.base_list_cents[i] * rng.uniform(0.92, 1.08) / 10) * 10 - 10)
            self.changes.append((h, int(i), max(new, 990)))

    def sku_index(self, sku_id: str) -> int:
        """Index of a SKU id."""
        return int(sku_id[3:]) - 1000
