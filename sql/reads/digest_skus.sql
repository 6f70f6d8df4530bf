-- mart.sku_hourly for the hours [$start, $end)
with skus as (
    select hour, sku_id, visitors, buyers, gmv
    from mart.sku_hourly
    where hour >= $start::timestamptz and hour < $end::timestamptz
)

select hour, sku_id, visitors, buyers, gmv
from skus
order by hour, sku_id
