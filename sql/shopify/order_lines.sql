-- Shopify orders, their line items and refunds as export-API order lines (DESIGN §3)
with orders as (
    select
        o ->> 'id' as order_gid,
        ltrim(o ->> 'name', '#') as order_id,
        regexp_extract(o -> 'customer' ->> 'id', '[^/]+$') as buyer_id,
        o ->> 'createdAt' as created_at,
        o ->> 'updatedAt' as updated_at,
        o ->> 'cancelledAt' as cancelled_at,
        o ->> 'closedAt' as closed_at,
        coalesce(
            nullif(lower(o -> 'customerJourneySummary' -> 'lastVisit' ->> 'source'), ''),
            o ->> 'sourceName'
        ) as source,
        (
            select min(t ->> 'processedAt')
            from (select unnest(from_json(o -> 'transactions', '["json"]')) as t)
            where t ->> 'kind' in ('SALE', 'CAPTURE') and t ->> 'status' = 'SUCCESS'
        ) as paid_at
    from shopify_orders
),

lines as (
    select
        order_gid,
        l ->> 'id' as line_gid,
        l ->> 'sku' as sku_id,
        -- values pass through as Shopify wrote them: staging types them or quarantines the row
        l -> 'quantity' as quantity,
        try_cast(l ->> 'unfulfilledQuantity' as bigint) as unfulfilled,
        l -> 'originalUnitPriceSet' -> 'shopMoney' ->> 'amount' as unit_price,
        l -> 'discountedTotalSet' -> 'shopMoney' ->> 'amount' as pay_amount,
        coalesce(
            l -> 'discountAllocations' -> 0 -> 'discountApplication' ->> 'title',
            l -> 'discountAllocations' -> 0 -> 'discountApplication' ->> 'code'
        ) as promo_id
    from shopify_lines
),

refunded as (
    -- a line's latest refund decides: restocked as CANCEL means cancelled, else refunded
    select line_gid, created_at, restock_type
    from shopify_refund_lines
    qualify row_number() over (partition by line_gid order by created_at desc) = 1
),

joined as (
    select
        orders.order_id,
        orders.buyer_id,
        lines.sku_id,
        lines.quantity,
        lines.unit_price,
        lines.pay_amount,
        case
            when refunded.restock_type = 'CANCEL' then 'cancelled'
            when refunded.line_gid is not null then 'refunded'
            when orders.cancelled_at is not null then 'cancelled'
            when lines.unfulfilled = 0 and orders.closed_at is not null then 'completed'
            when lines.unfulfilled = 0 then 'shipped'
            when orders.paid_at is not null then 'paid'
            else 'created'
        end as status,
        orders.source,
        lines.promo_id,
        orders.created_at,
        orders.paid_at,
        coalesce(refunded.created_at, orders.updated_at) as updated_at
    from lines
    join orders using (order_gid)
    left join refunded using (line_gid)
)

select
    order_id,
    buyer_id,
    sku_id,
    quantity,
    unit_price,
    pay_amount,
    status,
    source,
    promo_id,
    created_at,
    paid_at,
    updated_at
from joined
order by updated_at, order_id, sku_id
