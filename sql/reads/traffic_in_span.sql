-- traffic rows of the hours in [$start, $end)
with traffic as (
    select hour, source, sku_id, visitors, page_views, bounces, add_to_cart, favorites
    from core.traffic
    where hour >= $start::timestamptz and hour < $end::timestamptz
)

select hour, source, sku_id, visitors, page_views, bounces, add_to_cart, favorites
from traffic
