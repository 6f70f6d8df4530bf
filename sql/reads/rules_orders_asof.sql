-- order lines that count toward the hours in [$start, $end) (paid, created or refunded in
-- them), each with its status as known at $as_of: a line whose latest version is later was
-- then in an earlier, non-final status, and is neither cancelled nor refunded yet
with lines as (
    select
        order_id, sku_id, buyer_id, quantity, pay_amount, status, source, promo_id,
        created_at, paid_at, updated_at
    from core.orders
    where (paid_at >= $start::timestamptz and paid_at < $end::timestamptz)
        or (created_at >= $start::timestamptz and created_at < $end::timestamptz)
        or (
            updated_at >= $start::timestamptz and updated_at < $end::timestamptz
            and status = 'refunded'
        )
),

known as (
    select
        order_id, sku_id, buyer_id, quantity, pay_amount, source, promo_id, created_at,
        case when paid_at < $as_of::timestamptz then paid_at end as paid_at,
        case
            when updated_at < $as_of::timestamptz then status
            when paid_at < $as_of::timestamptz then 'paid'
            else 'created'
        end as status,
        least(updated_at, $as_of::timestamptz) as updated_at
    from lines
    where created_at < $as_of::timestamptz
)

select
    order_id, sku_id, buyer_id, quantity, pay_amount, status, source, promo_id,
    created_at, paid_at, updated_at
from known
