-- visitors and distinct buyers per (hour, source, SKU) for the local hours in $hours, all
-- within [$start, $end): the root cause of a conversion drop, by SKU
with wanted as (
    select unnest($hours::timestamptz[]) as hour
),

visits as (
    select t.hour, t.source, t.sku_id, cast(sum(t.visitors) as bigint) as visitors
    from core.traffic as t
    where t.hour >= $start::timestamptz and t.hour < $end::timestamptz
        and list_contains($hours::timestamptz[], t.hour)
    group by t.hour, t.source, t.sku_id
),

paid as (
    select w.hour, o.source, o.sku_id, count(distinct o.buyer_id) as buyers
    from core.orders as o
    inner join wanted as w
        on o.paid_at >= w.hour and o.paid_at < w.hour + interval 1 hour
    where o.paid_at >= $start::timestamptz and o.paid_at < $end::timestamptz
    group by w.hour, o.source, o.sku_id
)

select
    coalesce(v.hour, p.hour) as hour,
    coalesce(v.source, p.source) as source,
    coalesce(v.sku_id, p.sku_id) as sku_id,
    coalesce(v.visitors, 0) as visitors,
    coalesce(p.buyers, 0) as buyers
from visits as v
full outer join paid as p
    on v.hour = p.hour and v.source = p.source and v.sku_id = p.sku_id
