-- products with their safety stock; list and 90-day lowest prices only from a version
-- published before $as_of (a later version's prices were not known then)
with products as (
    select sku_id, title, list_price, lowest_price_90d, safety_stock, updated_at
    from core.products
),

known as (
    select
        sku_id,
        title,
        safety_stock,
        case when updated_at < $as_of::timestamptz then list_price end as list_price,
        case when updated_at < $as_of::timestamptz then lowest_price_90d end
            as lowest_price_90d
    from products
)

select sku_id, title, safety_stock, list_price, lowest_price_90d
from known
