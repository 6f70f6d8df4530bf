-- hourly search keyword rows of one landed batch, typed, with a quarantine reason for the ones that fail
with source as (
    select seq, record
    from raw.records
    where batch_id = $batch_id and dataset = 'keywords' and seq >= $from_seq
),

fields as (
    select
        seq,
        record,
        v[1] as hour_raw,
        v[2] as keyword,
        v[3] as impressions_raw,
        v[4] as clicks_raw,
        v[5] as visitors_raw,
        v[6] as buyers_raw,
        v[7] as pay_amount_raw
    from (
        -- one parse of each record for all its fields
        select seq, record, json_extract_string(record, ['$.hour', '$.keyword', '$.impressions', '$.clicks', '$.visitors', '$.buyers', '$.pay_amount']) as v
        from source
    )
),

typed as (
    select
        *,
        as_ts(hour_raw) as hour,
        as_int(impressions_raw) as impressions,
        as_int(clicks_raw) as clicks,
        as_int(visitors_raw) as visitors,
        as_int(buyers_raw) as buyers,
        as_num(pay_amount_raw) as pay_amount
    from fields
),

checked as (
    select
        *,
        nullif(concat_ws('; ',
            need(hour_raw, hour, 'hour'),
            need_text(keyword, 'keyword'),
            need(impressions_raw, impressions, 'impressions'),
            need(clicks_raw, clicks, 'clicks'),
            need(visitors_raw, visitors, 'visitors'),
            need(buyers_raw, buyers, 'buyers'),
            need(pay_amount_raw, pay_amount, 'pay_amount'),
            case when least(impressions, clicks, visitors, buyers) < 0 or pay_amount < 0
                then 'negative value' end
        ), '') as reason
    from typed
)

select
    seq,
    record,
    reason,
    hour,
    keyword,
    impressions,
    clicks,
    visitors,
    buyers,
    pay_amount,
    nullif(json_merge_patch(record, '{"hour":null,"keyword":null,"impressions":null,"clicks":null,"visitors":null,"buyers":null,"pay_amount":null}'), '{}') as extra
from checked
