-- traffic rows of any hour in the temp table _hours
with hours as (
    select hour, hour + interval 1 hour as hour_end
    from _hours
)

select
    t.hour,
    t.source,
    t.sku_id,
    t.visitors,
    t.page_views,
    t.bounces,
    t.add_to_cart,
    t.favorites
from core.traffic as t
where exists (select 1 from hours as h where t.hour >= h.hour and t.hour < h.hour_end)
