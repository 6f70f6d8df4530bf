-- mart.kpi_hourly for the hours [$start, $end)
with hourly as (
    select hour, visitors, buyers, gmv, paid_orders, created_lines, cancelled_orders
    from mart.kpi_hourly
    where hour >= $start::timestamptz and hour < $end::timestamptz
)

select hour, visitors, buyers, gmv, paid_orders, created_lines, cancelled_orders
from hourly
order by hour
