-- the as_of instants of the RFM snapshots kept, not after $at, newest first
with snapshots as (
    select distinct as_of
    from mart.rfm_segments
    where as_of <= $at::timestamptz
)

select as_of
from snapshots
order by as_of desc
