-- order lines paid in [$start, $end), for sales velocity
with paid as (
    select sku_id, quantity, paid_at
    from core.orders
    where paid_at >= $start::timestamptz and paid_at < $end::timestamptz
)

select sku_id, quantity, paid_at
from paid
