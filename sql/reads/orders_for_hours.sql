-- order lines that count toward any hour in the temp table _hours (paid, created or refunded in it)
with hours as (
    select hour, hour + interval 1 hour as hour_end
    from _hours
)

select
    o.order_id,
    o.sku_id,
    o.buyer_id,
    o.quantity,
    o.pay_amount,
    o.status,
    o.source,
    o.promo_id,
    o.created_at,
    o.paid_at,
    o.updated_at
from core.orders as o
where exists (
    select 1 from hours as h
    where (o.paid_at >= h.hour and o.paid_at < h.hour_end)
        or (o.created_at >= h.hour and o.created_at < h.hour_end)
        or (o.status = 'refunded' and o.updated_at >= h.hour and o.updated_at < h.hour_end)
)
