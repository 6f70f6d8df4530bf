-- inventory snapshots of the $max_age before $as_of (inclusive): the latest one per SKU is
-- its stock at as_of, and an older one is too stale to count
with snapshots as (
    select snapshot_at, sku_id, warehouse, on_hand, reserved
    from core.inventory
    where snapshot_at <= $as_of::timestamptz
        and snapshot_at > $as_of::timestamptz - $max_age::interval
)

select snapshot_at, sku_id, warehouse, on_hand, reserved
from snapshots
