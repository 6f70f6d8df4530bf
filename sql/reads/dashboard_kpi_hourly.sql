-- complete shop KPI hours in [$start, $end] for the dashboard's tiles and charts (an
-- incomplete hour is neither shown as a normal hour nor compared with)
with kpis as (
    select
        hour, visitors, page_views, bounces, bounce_rate, add_to_cart, favorites,
        paid_orders, buyers, units, gmv, conversion_rate, aov, cancel_rate, refund_amount,
        in_promo
    from mart.kpi_hourly
    where hour >= $start::timestamptz and hour <= $end::timestamptz and complete is not false
)

select
    hour, visitors, page_views, bounces, bounce_rate, add_to_cart, favorites,
    paid_orders, buyers, units, gmv, conversion_rate, aov, cancel_rate, refund_amount,
    in_promo
from kpis
order by hour
