-- order lines of one landed batch, typed, with a quarantine reason for the ones that fail
with source as (
    select seq, record
    from raw.records
    where batch_id = $batch_id and dataset = 'orders'
),

fields as (
    select
        seq,
        record,
        record ->> 'order_id' as order_id,
        record ->> 'sku_id' as sku_id,
        record ->> 'buyer_id' as buyer_id,
        record ->> 'quantity' as quantity_raw,
        record ->> 'unit_price' as unit_price_raw,
        record ->> 'pay_amount' as pay_amount_raw,
        record ->> 'status' as status,
        record ->> 'source' as source,
        record ->> 'promo_id' as promo_id,
        record ->> 'created_at' as created_at_raw,
        record ->> 'paid_at' as paid_at_raw,
        record ->> 'updated_at' as updated_at_raw
    from source
),

typed as (
    select
        *,
        as_int(quantity_raw) as quantity,
        as_num(unit_price_raw) as unit_price,
        as_num(pay_amount_raw) as pay_amount,
        as_ts(created_at_raw) as created_at,
        as_ts(paid_at_raw) as paid_at,
        as_ts(updated_at_raw) as updated_at
    from fields
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            case when order_id is null or order_id = '' then 'missing order_id' end,
            case when sku_id is null or sku_id = '' then 'missing sku_id' end,
            case when buyer_id is null or buyer_id = '' then 'missing buyer_id' end,
            need(quantity_raw, quantity, 'quantity'),
            case when quantity <= 0 then 'quantity must be positive' end,
            need(unit_price_raw, unit_price, 'unit_price'),
            case when unit_price < 0 then 'negative unit_price' end,
            need(pay_amount_raw, pay_amount, 'pay_amount'),
            case when pay_amount < 0 then 'negative pay_amount' end,
            case
                when status is null then 'missing status'
                when status not in ('created', 'paid', 'shipped', 'completed', 'cancelled', 'refunded')
                    then 'unknown status: ' || left(status, 40)
            end,
            case when source is null or source = '' then 'missing source' end,
            need(created_at_raw, created_at, 'created_at'),
            allow_null(paid_at_raw, paid_at, 'paid_at'),
            need(updated_at_raw, updated_at, 'updated_at')
        ), '') as reason
    from typed
)

select
    seq,
    record,
    reason,
    order_id,
    sku_id,
    buyer_id,
    quantity::integer as quantity,
    unit_price,
    pay_amount,
    status,
    source,
    promo_id,
    created_at,
    paid_at,
    updated_at,
    nullif(json_merge_patch(record, '{"order_id":null,"sku_id":null,"buyer_id":null,"quantity":null,"unit_price":null,"pay_amount":null,"status":null,"source":null,"promo_id":null,"created_at":null,"paid_at":null,"updated_at":null}'), '{}') as extra
from checked
