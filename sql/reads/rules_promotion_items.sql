-- the SKUs of the promotions in $promo_ids, with promotion price and committed units
with items as (
    select promo_id, sku_id, promo_price, stock_commitment
    from core.promotion_items
    where list_contains($promo_ids::varchar[], promo_id)
)

select promo_id, sku_id, promo_price, stock_commitment
from items
