-- shipments due in [$start, $end) with whether they had shipped by $as_of, and the order's
-- paid amount (late_shipping counts and prices the ones not shipped)
with shipments as (
    select order_id, promised_ship_by, shipped_at
    from core.shipments
    where promised_ship_by >= $start::timestamptz and promised_ship_by < $end::timestamptz
),

amounts as (
    select o.order_id, sum(o.pay_amount) as amount
    from core.orders as o
    inner join shipments as s on s.order_id = o.order_id
    where o.paid_at < $as_of::timestamptz
    group by o.order_id
)

select
    s.order_id,
    s.promised_ship_by,
    coalesce(s.shipped_at < $as_of::timestamptz, false) as shipped,
    coalesce(a.amount, 0.0) as amount
from shipments as s
left join amounts as a on a.order_id = s.order_id
