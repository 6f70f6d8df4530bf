-- SKUs of the promotions running at $as_of or starting within $lookahead after it
with promotions as (
    select promo_id, starts_at, ends_at
    from core.promotions
    where starts_at <= $as_of::timestamptz + $lookahead::interval
        and ends_at > $as_of::timestamptz
),

items as (
    select i.promo_id, i.sku_id
    from core.promotion_items as i
    inner join promotions as p on p.promo_id = i.promo_id
)

select promo_id, sku_id
from items
