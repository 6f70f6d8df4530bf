-- returns received in [$start, $end), by reason
with returns as (
    select order_id, returned_at, coalesce(return_reason, 'unknown') as reason
    from core.shipments
    where returned_at >= $start::timestamptz and returned_at < $end::timestamptz
)

select order_id, returned_at, reason
from returns
