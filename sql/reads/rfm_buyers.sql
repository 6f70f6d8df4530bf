-- per buyer over [$start, $end): last payment, paid orders and amount, counting only lines
-- whose latest status is not cancelled or refunded (transforms.rfm.rfm_base, in SQL, because
-- a year of order lines is too many rows to move into a frame)
with purchases as (
    select buyer_id, order_id, pay_amount, paid_at
    from core.orders
    where paid_at >= $start::timestamptz and paid_at < $end::timestamptz
        and status not in ('cancelled', 'refunded')
),

buyers as (
    select
        buyer_id,
        max(paid_at) as last_paid_at,
        count(distinct order_id) as frequency,
        -- to the cent: a float sum depends on the order the lines are added in
        round(sum(pay_amount), 2) as monetary
    from purchases
    group by buyer_id
)

select buyer_id, last_paid_at, frequency, monetary
from buyers
order by buyer_id
