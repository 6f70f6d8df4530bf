-- shipments promised for, or returned in, [$start, $end)
with shipments as (
    select order_id, promised_ship_by, shipped_at, returned_at, return_reason
    from core.shipments
    where (promised_ship_by >= $start::timestamptz and promised_ship_by < $end::timestamptz)
        or (returned_at >= $start::timestamptz and returned_at < $end::timestamptz)
)

select order_id, promised_ship_by, shipped_at, returned_at, return_reason
from shipments
