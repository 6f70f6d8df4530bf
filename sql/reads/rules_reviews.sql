-- reviews written in [$start, $end) up to $as_of, their reply only if it came before $as_of,
-- and whether the reviewer had a paid order by then (a review attack comes from non-buyers)
with reviews as (
    select review_id, order_id, sku_id, buyer_id, rating, text, ip_hash, created_at, replied_at
    from core.reviews
    where created_at >= $start::timestamptz
        and created_at < $end::timestamptz
        and created_at < $as_of::timestamptz
),

buyers as (
    select distinct o.buyer_id
    from core.orders as o
    inner join reviews as r on r.buyer_id = o.buyer_id
    where o.paid_at < $as_of::timestamptz
)

select
    r.review_id,
    r.order_id,
    r.sku_id,
    r.buyer_id,
    r.rating,
    r.text,
    r.ip_hash,
    r.created_at,
    case when r.replied_at < $as_of::timestamptz then r.replied_at end as replied_at,
    b.buyer_id is not null as buyer_paid
from reviews as r
left join buyers as b on b.buyer_id = r.buyer_id
