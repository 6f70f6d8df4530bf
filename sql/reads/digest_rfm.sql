-- the RFM segment of every buyer in the snapshot at $as_of
with segments as (
    select buyer_id, segment
    from mart.rfm_segments
    where as_of = $as_of::timestamptz
)

select buyer_id, segment
from segments
order by buyer_id
