-- order lines that count toward any hour of [$start, $end): paid, created or refunded in it.
-- One range per column, so each branch prunes row groups by that column's zone map.
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
),

refunded as (
    select
        order_id, sku_id, buyer_id, quantity, pay_amount, status, source, promo_id,
        created_at, paid_at, updated_at
    from core.orders
    where updated_at >= $start::timestamptz and updated_at < $end::timestamptz
        and status = 'refunded'
)

select * from paid
union
select * from created
union
select * from refunded
