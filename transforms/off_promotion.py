"""The off-promotion conversion scope of conversion_drop: the SKUs no running promotion covers.

A promotion of a few SKUs lifts the shop's conversion by an amount nobody knows in advance
(its SKUs draw traffic and convert better), so the shop-level test of a promotion hour has to
allow for that uplift. The SKUs outside the promotion have no such uplift to allow for: they
convert as on a plain day, and a broken checkout or a wrong price drops them too.

Their series (sql/reads/rules_off_promotion_history) is, per hour, the visitors of the SKUs
not in the promotions running in the evaluated hour and the distinct buyers who paid for at
least one of them, in the baseline hours and in the evaluated hour alike. Distinct buyers, not
each SKU's buyers summed: a buyer of two such SKUs counts once, as in the shop's `buyers`, so
the count keeps a binomial's spread (summed per SKU it swings about half as much again, and
the night hours' few buyers then read as drops). Each hour's promotion state is made of the
*other* promotions running in it, so the evaluated hour's state is plain: its baseline is the
same local hour on the days when no other promotion ran, with no uplift to allow for, and the
same day's earlier hours (before and inside the promotion) say how the day runs.
"""

from __future__ import annotations

import polars as pl

__all__ = ["OFF_PROMOTION", "SCOPE_LABEL", "promoted_skus"]

# the alert label that names the scope, and its value for the SKUs outside the promotions
SCOPE_LABEL = "scope"
OFF_PROMOTION = "off_promotion"


def promoted_skus(running: pl.DataFrame, items: pl.DataFrame) -> list[str] | None:
    """The SKUs of the promotions in `running` (promo_id), from `items` (promo_id, sku_id);
    None when there is no off-promotion scope: nothing runs, or a running promotion lists no
    SKUs (a store-wide one, which lifts every SKU)."""
    ids = running.get_column("promo_id").unique()
    if ids.is_empty():
        return None
    listed = items.filter(pl.col("promo_id").is_in(ids.implode()))
    if listed.get_column("promo_id").n_unique() < ids.len():
        return None
    return sorted(listed.get_column("sku_id").unique().to_list())
