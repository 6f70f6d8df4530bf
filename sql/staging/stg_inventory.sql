-- inventory snapshots of one landed batch, typed, with a quarantine reason for the ones that fail
with source as (
    select seq, record
    from raw.records
    where batch_id = $batch_id and dataset = 'inventory' and seq >= $from_seq
),

fields as (
    select
        seq,
        record,
        v[1] as snapshot_at_raw,
        v[2] as sku_id,
        v[3] as warehouse,
        v[4] as on_hand_raw,
        v[5] as reserved_raw
    from (
        -- one parse of each record for all its fields
        select seq, record, json_extract_string(record, ['$.snapshot_at', '$.sku_id', '$.warehouse', '$.on_hand', '$.reserved']) as v
        from source
    )
),

typed as (
    select
        *,
        as_ts(snapshot_at_raw) as snapshot_at,
        as_int(on_hand_raw) as on_hand,
        as_int(reserved_raw) as reserved
    from fields
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            need(snapshot_at_raw, snapshot_at, 'snapshot_at'),
            need_text(sku_id, 'sku_id'),
            need_text(warehouse, 'warehouse'),
            need(on_hand_raw, on_hand, 'on_hand'),
            need(reserved_raw, reserved, 'reserved'),
            case when on_hand < 0 then 'negative on_hand' end,
            case when reserved < 0 then 'negative reserved' end
        ), '') as reason
    from typed
)

select
    seq,
    record,
    reason,
    snapshot_at,
    sku_id,
    warehouse,
    on_hand,
    reserved,
    nullif(json_merge_patch(record, '{"snapshot_at":null,"sku_id":null,"warehouse":null,"on_hand":null,"reserved":null}'), '{}') as extra
from checked
