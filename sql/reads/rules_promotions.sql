-- promotions known at $as_of (their latest version was published before it) that run at
-- any time in [$start, $end)
with promotions as (
    select
        promo_id, name, kind, starts_at, ends_at, threshold_amount, discount_amount,
        updated_at
    from core.promotions
    where updated_at < $as_of::timestamptz
        and starts_at < $end::timestamptz and ends_at > $start::timestamptz
)

select
    promo_id, name, kind, starts_at, ends_at, threshold_amount, discount_amount, updated_at
from promotions
