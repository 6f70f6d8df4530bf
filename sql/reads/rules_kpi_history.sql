-- hourly conversion inputs of the shop (source null) and each traffic source for the hours
-- in [$start, $end): visitors, buyers and gmv never change once their hour has passed; and
-- the hour's promotion state: the kinds of the promotions known at $as_of running in it
-- ('' for none). Hours not known to be complete (a dataset they need was never extracted for
-- them, see ops.coverage) are left out: they are no baseline
with shop as (
    select
        hour, cast(null as varchar) as source, visitors, buyers, gmv, units, in_promo
    from mart.kpi_hourly
    where hour >= $start::timestamptz and hour < $end::timestamptz and complete is not false
),

sources as (
    select hour, source, visitors, buyers, gmv, units, in_promo
    from mart.kpi_hourly_by_source
    where hour >= $start::timestamptz and hour < $end::timestamptz and complete is not false
),

states as (
    select
        shop.hour,
        coalesce(string_agg(distinct p.kind, '+' order by p.kind), '') as promo_state
    from shop
    left join core.promotions as p
        on p.starts_at < shop.hour + interval 1 hour and p.ends_at > shop.hour
        and p.updated_at < $as_of::timestamptz
    group by shop.hour
),

hours as (
    select hour, source, visitors, buyers, gmv, units, in_promo
    from shop
    union all
    select hour, source, visitors, buyers, gmv, units, in_promo
    from sources
)

select h.hour, h.source, h.visitors, h.buyers, h.gmv, h.units, h.in_promo, s.promo_state
from hours as h
left join states as s on s.hour = h.hour
