-- promotions of one landed batch, typed, with a quarantine reason for the ones that fail
with source as (
    select seq, record
    from raw.records
    where batch_id = $batch_id and dataset = 'promotions' and seq >= $from_seq
),

fields as (
    select
        seq,
        record,
        v[1] as promo_id,
        v[2] as name,
        v[3] as kind,
        v[4] as starts_at_raw,
        v[5] as ends_at_raw,
        v[6] as threshold_amount_raw,
        v[7] as discount_amount_raw,
        v[8] as updated_at_raw,
        record -> 'items' as items
    from (
        -- one parse of each record for all its fields
        select seq, record, json_extract_string(record, ['$.promo_id', '$.name', '$.kind', '$.starts_at', '$.ends_at', '$.threshold_amount', '$.discount_amount', '$.updated_at']) as v
        from source
    )
),

typed as (
    select
        *,
        as_ts(starts_at_raw) as starts_at,
        as_ts(ends_at_raw) as ends_at,
        as_num(threshold_amount_raw) as threshold_amount,
        as_num(discount_amount_raw) as discount_amount,
        as_ts(updated_at_raw) as updated_at,
        coalesce(json_type(items) = 'ARRAY', false) as items_ok,
        (
            select count(*)
            from (select unnest(from_json(items, '["json"]')) as item)
            where item ->> 'sku_id' is null
                or as_num(item ->> 'promo_price') is null
                or as_num(item ->> 'promo_price') < 0
                or (item ->> 'stock_commitment' is not null and as_int(item ->> 'stock_commitment') is null)
        ) as bad_items
    from fields
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            need_text(promo_id, 'promo_id'),
            case when name is null then 'missing name' end,
            case
                when kind is null then 'missing kind'
                when kind not in ('discount', 'full_reduction', 'flash_sale', 'presale')
                    then 'unknown kind: ' || left(kind, 40)
            end,
            need(starts_at_raw, starts_at, 'starts_at'),
            need(ends_at_raw, ends_at, 'ends_at'),
            case when ends_at <= starts_at then 'ends_at not after starts_at' end,
            allow_null(threshold_amount_raw, threshold_amount, 'threshold_amount'),
            allow_null(discount_amount_raw, discount_amount, 'discount_amount'),
            need(updated_at_raw, updated_at, 'updated_at'),
            case when not items_ok then 'items must be a list' end,
            case when items_ok and bad_items > 0 then 'bad items: each needs sku_id and promo_price' end
        ), '') as reason
    from typed
)

select
    seq,
    record,
    reason,
    promo_id,
    name,
    kind,
    starts_at,
    ends_at,
    threshold_amount,
    discount_amount,
    updated_at,
    items,
    nullif(json_merge_patch(record, '{"promo_id":null,"name":null,"kind":null,"starts_at":null,"ends_at":null,"threshold_amount":null,"discount_amount":null,"updated_at":null,"items":null}'), '{}') as extra
from checked
