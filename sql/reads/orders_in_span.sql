-- order lines that count toward any hour of [$start, $end): paid, created or refunded in it.
-- Each branch bounds one column (so DuckDB prunes row groups by its zone map) and excludes
-- the lines of the branches before it, so the branches never overlap.
with paid as (
    select
        order_id, sku_id, buyer_id, quantity, pay_amount, status, source, promo_id,
        created_at, paid_at, updated_at
    from core.orders
    where paid_at >= $start::timestamptz and paid_at < $end::timestamptz
),

created as (
    select
        order_id, sku_id, buyer_id, quantity, pay_amount, status, source, promo_id,
        created_at, paid_at, updated_at
    from core.orders
    where created_at >= $start::timestamptz and created_at < $end::timestamptz
        and (paid_at is null or paid_at < $start::timestamptz or paid_at >= $end::timestamptz)
),

refunded as (
    select
        order_id, sku_id, buyer_id, quantity, pay_amount, status, source, promo_id,
        created_at, paid_at, updated_at
    from core.orders
    where updated_at >= $start::timestamptz and updated_at < $end::timestamptz
        and status = 'refunded'
        and (paid_at is null or paid_at < $start::timestamptz or paid_at >= $end::timestamptz)
        and (created_at < $start::timestamptz or created_at >= $end::timestamptz)
)

select
    order_id, sku_id, buyer_id, quantity, pay_amount, status, source, promo_id,
    created_at, paid_at, updated_at
from paid
union all
select
    order_id, sku_id, buyer_id, quantity, pay_amount, status, source, promo_id,
    created_at, paid_at, updated_at
from created
union all
select
    order_id, sku_id, buyer_id, quantity, pay_amount, status, source, promo_id,
    created_at, paid_at, updated_at
from refunded
