-- customer-service chats of one landed batch, typed, with a quarantine reason for the ones that fail
with source as (
    select seq, record
    from raw.records
    where batch_id = $batch_id and dataset = 'service_chats' and seq >= $from_seq
),

fields as (
    select
        seq,
        record,
        v[1] as chat_id,
        v[2] as buyer_id,
        v[3] as started_at_raw,
        v[4] as first_response_at_raw,
        v[5] as responder,
        v[6] as resolved_raw,
        v[7] as sku_id,
        v[8] as updated_at_raw
    from (
        -- one parse of each record for all its fields
        select seq, record, json_extract_string(record, ['$.chat_id', '$.buyer_id', '$.started_at', '$.first_response_at', '$.responder', '$.resolved', '$.sku_id', '$.updated_at']) as v
        from source
    )
),

typed as (
    select
        *,
        as_ts(started_at_raw) as started_at,
        as_ts(first_response_at_raw) as first_response_at,
        as_bool(resolved_raw) as resolved,
        as_ts(updated_at_raw) as updated_at
    from fields
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            need_text(chat_id, 'chat_id'),
            need_text(buyer_id, 'buyer_id'),
            need(started_at_raw, started_at, 'started_at'),
            allow_null(first_response_at_raw, first_response_at, 'first_response_at'),
            case when first_response_at < started_at then 'first_response_at before started_at' end,
            case when first_response_at is not null and (responder is null or responder = '')
                then 'missing responder' end,
            need(resolved_raw, resolved, 'resolved'),
            need(updated_at_raw, updated_at, 'updated_at')
        ), '') as reason
    from typed
)

select
    seq,
    record,
    reason,
    chat_id,
    buyer_id,
    started_at,
    first_response_at,
    nullif(responder, '') as responder,
    resolved,
    nullif(sku_id, '') as sku_id,
    updated_at,
    nullif(json_merge_patch(record, '{"chat_id":null,"buyer_id":null,"started_at":null,"first_response_at":null,"responder":null,"resolved":null,"sku_id":null,"updated_at":null}'), '{}') as extra
from checked
