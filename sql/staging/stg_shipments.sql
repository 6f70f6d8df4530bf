-- order shipments of one landed batch, typed, with a quarantine reason for the ones that fail
with source as (
    select seq, record
    from raw.records
    where batch_id = $batch_id and dataset = 'shipments' and seq >= $from_seq
),

fields as (
    select
        seq,
        record,
        v[1] as order_id,
        v[2] as promised_ship_by_raw,
        v[3] as shipped_at_raw,
        v[4] as returned_at_raw,
        v[5] as return_reason,
        v[6] as updated_at_raw
    from (
        -- one parse of each record for all its fields
        select seq, record, json_extract_string(record, ['$.order_id', '$.promised_ship_by', '$.shipped_at', '$.returned_at', '$.return_reason', '$.updated_at']) as v
        from source
    )
),

typed as (
    select
        *,
        as_ts(promised_ship_by_raw) as promised_ship_by,
        as_ts(shipped_at_raw) as shipped_at,
        as_ts(returned_at_raw) as returned_at,
        as_ts(updated_at_raw) as updated_at
    from fields
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            need_text(order_id, 'order_id'),
            need(promised_ship_by_raw, promised_ship_by, 'promised_ship_by'),
            allow_null(shipped_at_raw, shipped_at, 'shipped_at'),
            allow_null(returned_at_raw, returned_at, 'returned_at'),
            case when returned_at is not null and shipped_at is null
                then 'returned_at without shipped_at' end,
            case when returned_at is not null and (return_reason is null or return_reason = '')
                then 'missing return_reason' end,
            need(updated_at_raw, updated_at, 'updated_at')
        ), '') as reason
    from typed
)

select
    seq,
    record,
    reason,
    order_id,
    promised_ship_by,
    shipped_at,
    returned_at,
    nullif(return_reason, '') as return_reason,
    updated_at,
    nullif(json_merge_patch(record, '{"order_id":null,"promised_ship_by":null,"shipped_at":null,"returned_at":null,"return_reason":null,"updated_at":null}'), '{}') as extra
from checked
