-- paid units per hour of the SKUs in $skus over the hours in [$start, $end)
with units as (
    select hour, sku_id, units
    from mart.sku_hourly
    where hour >= $start::timestamptz and hour < $end::timestamptz
        and list_contains($skus::varchar[], sku_id)
)

select hour, sku_id, units
from units
