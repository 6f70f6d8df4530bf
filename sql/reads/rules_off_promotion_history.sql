-- hourly conversion inputs of the SKUs not in $skus (those of the promotions $promo_ids that
-- run in the evaluated hour) for the hours in [$start, $end), source null: their visitors
-- (mart.sku_hourly), the distinct buyers who paid for at least one of them in the hour and
-- the gmv of those lines (core.orders, paid before $as_of); and each hour's promotion state
-- made of the other promotions: the kinds of those known at $as_of running in it,
-- $promo_ids left out ('' for none). Hours not known to be complete are left out, as in
-- rules_kpi_history
with hours as (
    select hour
    from mart.kpi_hourly
    where hour >= $start::timestamptz and hour < $end::timestamptz and complete is not false
),

visits as (
    select s.hour, cast(sum(s.visitors) as bigint) as visitors
    from mart.sku_hourly as s
    inner join hours as h on s.hour = h.hour
    where s.hour >= $start::timestamptz and s.hour < $end::timestamptz
        and not list_contains($skus::varchar[], s.sku_id)
    group by s.hour
),

paid as (
    select h.hour, count(distinct o.buyer_id) as buyers, sum(o.pay_amount) as gmv
    from core.orders as o
    inner join hours as h
        on o.paid_at >= h.hour and o.paid_at < h.hour + interval 1 hour
    where o.paid_at >= $start::timestamptz and o.paid_at < $end::timestamptz
        and o.paid_at < $as_of::timestamptz
        and not list_contains($skus::varchar[], o.sku_id)
    group by h.hour
),

states as (
    select
        h.hour,
        coalesce(string_agg(distinct p.kind, '+' order by p.kind), '') as promo_state
    from hours as h
    left join core.promotions as p
        on p.starts_at < h.hour + interval 1 hour and p.ends_at > h.hour
        and p.updated_at < $as_of::timestamptz
        and not list_contains($promo_ids::varchar[], p.promo_id)
    group by h.hour
)

select
    v.hour,
    cast(null as varchar) as source,
    v.visitors,
    coalesce(p.buyers, 0) as buyers,
    coalesce(p.gmv, 0.0) as gmv,
    s.promo_state <> '' as in_promo,
    s.promo_state
from visits as v
inner join states as s on v.hour = s.hour
left join paid as p on v.hour = p.hour
