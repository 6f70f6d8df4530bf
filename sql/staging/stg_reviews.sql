-- product reviews of one landed batch, typed, with a quarantine reason for the ones that fail
with source as (
    select seq, record
    from raw.records
    where batch_id = $batch_id and dataset = 'reviews' and seq >= $from_seq
),

fields as (
    select
        seq,
        record,
        v[1] as review_id,
        v[2] as order_id,
        v[3] as sku_id,
        v[4] as buyer_id,
        v[5] as rating_raw,
        v[6] as text,
        v[7] as has_images_raw,
        v[8] as ip_hash,
        v[9] as created_at_raw,
        v[10] as replied_at_raw,
        v[11] as updated_at_raw
    from (
        -- one parse of each record for all its fields
        select seq, record, json_extract_string(record, ['$.review_id', '$.order_id', '$.sku_id', '$.buyer_id', '$.rating', '$.text', '$.has_images', '$.ip_hash', '$.created_at', '$.replied_at', '$.updated_at']) as v
        from source
    )
),

typed as (
    select
        *,
        as_int32(rating_raw) as rating,
        as_bool(has_images_raw) as has_images,
        as_ts(created_at_raw) as created_at,
        as_ts(replied_at_raw) as replied_at,
        as_ts(updated_at_raw) as updated_at
    from fields
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            need_text(review_id, 'review_id'),
            need_text(order_id, 'order_id'),
            need_text(sku_id, 'sku_id'),
            need_text(buyer_id, 'buyer_id'),
            need(rating_raw, rating, 'rating'),
            case when rating not between 1 and 5 then 'rating outside 1-5: ' || rating end,
            need(has_images_raw, has_images, 'has_images'),
            need(created_at_raw, created_at, 'created_at'),
            allow_null(replied_at_raw, replied_at, 'replied_at'),
            case when replied_at < created_at then 'replied_at before created_at' end,
            need(updated_at_raw, updated_at, 'updated_at')
        ), '') as reason
    from typed
)

select
    seq,
    record,
    reason,
    review_id,
    order_id,
    sku_id,
    buyer_id,
    rating,
    text,
    has_images,
    nullif(ip_hash, '') as ip_hash,
    created_at,
    replied_at,
    updated_at,
    nullif(json_merge_patch(record, '{"review_id":null,"order_id":null,"sku_id":null,"buyer_id":null,"rating":null,"text":null,"has_images":null,"ip_hash":null,"created_at":null,"replied_at":null,"updated_at":null}'), '{}') as extra
from checked
