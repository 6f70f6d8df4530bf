-- reviews written in [$start, $end), with their reply as known now
with reviews as (
    select review_id, order_id, sku_id, buyer_id, rating, has_images, ip_hash, created_at, replied_at
    from core.reviews
    where created_at >= $start::timestamptz and created_at < $end::timestamptz
)

select review_id, order_id, sku_id, buyer_id, rating, has_images, ip_hash, created_at, replied_at
from reviews
