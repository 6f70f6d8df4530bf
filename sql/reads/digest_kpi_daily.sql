-- mart.kpi_daily for the local days [$first_day, $last_day]; `complete` false: not every
-- dataset was extracted for all its hours (null: recorded before coverage was)
with daily as (
    select
        day, visitors, page_views, bounces, bounce_rate, add_to_cart, favorites, paid_orders,
        buyers, units, gmv, conversion_rate, aov, created_lines, cancelled_orders, cancel_rate,
        refund_amount, in_promo, complete
    from mart.kpi_daily
    where day >= $first_day::date and day <= $last_day::date
)

select *
from daily
order by day
