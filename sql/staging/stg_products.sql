-- product dimension rows of one landed batch, typed, with a quarantine reason for the ones that fail
with source as (
    select seq, record
    from raw.records
    where batch_id = $batch_id and dataset = 'products' and seq >= $from_seq
),

fields as (
    select
        seq,
        record,
        v[1] as sku_id,
        v[2] as title,
        v[3] as category,
        v[4] as list_price_raw,
        v[5] as lowest_price_90d_raw,
        v[6] as safety_stock_raw,
        v[7] as updated_at_raw
    from (
        -- one parse of each record for all its fields
        select seq, record, json_extract_string(record, ['$.sku_id', '$.title', '$.category', '$.list_price', '$.lowest_price_90d', '$.safety_stock', '$.updated_at']) as v
        from source
    )
),

typed as (
    select
        *,
        as_num(list_price_raw) as list_price,
        as_num(lowest_price_90d_raw) as lowest_price_90d,
        as_int32(safety_stock_raw) as safety_stock,
        as_ts(updated_at_raw) as updated_at
    from fields
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            need_text(sku_id, 'sku_id'),
            case when title is null then 'missing title' end,
            need(list_price_raw, list_price, 'list_price'),
            case when list_price < 0 then 'negative list_price' end,
            allow_null(lowest_price_90d_raw, lowest_price_90d, 'lowest_price_90d'),
            need(safety_stock_raw, safety_stock, 'safety_stock'),
            case when safety_stock < 0 then 'negative safety_stock' end,
            need(updated_at_raw, updated_at, 'updated_at')
        ), '') as reason
    from typed
)

select
    seq,
    record,
    reason,
    sku_id,
    title,
    category,
    list_price,
    lowest_price_90d,
    safety_stock,
    updated_at,
    nullif(json_merge_patch(record, '{"sku_id":null,"title":null,"category":null,"list_price":null,"lowest_price_90d":null,"safety_stock":null,"updated_at":null}'), '{}') as extra
from checked
