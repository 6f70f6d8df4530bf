-- hourly conversion inputs of the shop (source null) and each traffic source for the hours
-- in [$start, $end): visitors, buyers and gmv never change once their hour has passed
with shop as (
    select
        hour, cast(null as varchar) as source, visitors, buyers, gmv, units, in_promo
    from mart.kpi_hourly
    where hour >= $start::timestamptz and hour < $end::timestamptz
),

sources as (
    select hour, source, visitors, buyers, gmv, units, in_promo
    from mart.kpi_hourly_by_source
    where hour >= $start::timestamptz and hour < $end::timestamptz
)

select hour, source, visitors, buyers, gmv, units, in_promo
from shop
union all
select hour, source, visitors, buyers, gmv, units, in_promo
from sources
