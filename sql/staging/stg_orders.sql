-- order lines of one landed batch, typed, with a quarantine reason for the ones that fail
with source as (
    select seq, record
    from raw.records
    where batch_id = $batch_id and dataset = 'orders' and seq >= $from_seq
),

fields as (
    select
        seq,
        record,
        v[1] as order_id,
        v[2] as sku_id,
        v[3] as buyer_id,
        v[4] as quantity_raw,
        v[5] as unit_price_raw,
        v[6] as pay_amount_raw,
        v[7] as status,
        v[8] as source,
        v[9] as promo_id,
        v[10] as created_at_raw,
        v[11] as paid_at_raw,
        v[12] as updated_at_raw
    from (
        -- one parse of each record for all its fields
        select seq, record, json_extract_string(record, ['$.order_id', '$.sku_id', '$.buyer_id', '$.quantity', '$.unit_price', '$.pay_amount', '$.status', '$.source', '$.promo_id', '$.created_at', '$.paid_at', '$.updated_at']) as v
        from source
    )
),

typed as (
    select
        *,
        as_int32(quantity_raw) as quantity,
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
            need_text(order_id, 'order_id'),
            need_text(sku_id, 'sku_id'),
            need_text(buyer_id, 'buyer_id'),
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
            need_text(source, 'source'),
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
    quantity,
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
