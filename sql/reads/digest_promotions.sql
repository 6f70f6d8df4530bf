-- promotions running at any time in [$start, $end)
with promotions as (
    select promo_id, name, kind, starts_at, ends_at
    from core.promotions
    where starts_at < $end::timestamptz and ends_at > $start::timestamptz
)

select promo_id, name, kind, starts_at, ends_at
from promotions
order by starts_at, promo_id
