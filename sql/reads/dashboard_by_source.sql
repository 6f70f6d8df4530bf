-- KPIs of one hour per traffic source, most visited first
with by_source as (
    select
        source, visitors, bounce_rate, add_to_cart, favorites, paid_orders, buyers, gmv,
        conversion_rate, aov
    from mart.kpi_hourly_by_source
    where hour = $hour::timestamptz
)

select
    source, visitors, bounce_rate, add_to_cart, favorites, paid_orders, buyers, gmv,
    conversion_rate, aov
from by_source
order by visitors desc, gmv desc, source
