-- hourly traffic rows of one landed batch, typed, with a quarantine reason for the ones that fail
with source as (
    select seq, record
    from raw.records
    where batch_id = $batch_id and dataset = 'traffic' and seq >= $from_seq
),

fields as (
    select
        seq,
        record,
        v[1] as hour_raw,
        v[2] as source,
        v[3] as sku_id,
        v[4] as visitors_raw,
        v[5] as page_views_raw,
        v[6] as bounces_raw,
        v[7] as add_to_cart_raw,
        v[8] as favorites_raw
    from (
        -- one parse of each record for all its fields
        select seq, record, json_extract_string(record, ['$.hour', '$.source', '$.sku_id', '$.visitors', '$.page_views', '$.bounces', '$.add_to_cart', '$.favorites']) as v
        from source
    )
),

typed as (
    select
        *,
        as_ts(hour_raw) as hour,
        as_int(visitors_raw) as visitors,
        as_int(page_views_raw) as page_views,
        as_int(bounces_raw) as bounces,
        as_int(add_to_cart_raw) as add_to_cart,
        as_int(favorites_raw) as favorites
    from fields
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            need(hour_raw, hour, 'hour'),
            need_text(source, 'source'),
            need_text(sku_id, 'sku_id'),
            need(visitors_raw, visitors, 'visitors'),
            need(page_views_raw, page_views, 'page_views'),
            need(bounces_raw, bounces, 'bounces'),
            need(add_to_cart_raw, add_to_cart, 'add_to_cart'),
            need(favorites_raw, favorites, 'favorites'),
            case when least(visitors, page_views, bounces, add_to_cart, favorites) < 0
                then 'negative count' end,
            case when bounces > visitors then 'bounces exceed visitors' end
        ), '') as reason
    from typed
)

select
    seq,
    record,
    reason,
    hour,
    source,
    sku_id,
    visitors,
    page_views,
    bounces,
    add_to_cart,
    favorites,
    nullif(json_merge_patch(record, '{"hour":null,"source":null,"sku_id":null,"visitors":null,"page_views":null,"bounces":null,"add_to_cart":null,"favorites":null}'), '{}') as extra
from checked
