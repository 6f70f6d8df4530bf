-- order lines created in any of the windows [w, w + $width) for w in $starts, with their
-- latest status and when it was set (cancel_spike compares each window as of its own end)
with windows as (
    select unnest($starts::timestamptz[]) as window_start
),

lines as (
    select o.created_at, o.status, o.updated_at, o.promo_id
    from core.orders as o
    inner join windows as w
        on o.created_at >= w.window_start
        and o.created_at < w.window_start + $width::interval
    where o.created_at >= $start::timestamptz and o.created_at < $end::timestamptz
)

select created_at, status, updated_at, promo_id
from lines
