-- rows per dataset and quarter hour in [$start, $end) by the field that places them in an
-- hour: traffic and keywords by hour, inventory by snapshot, order lines by creation
with traffic as (
    select 'traffic' as dataset, hour as bucket, count(*) as row_count
    from core.traffic
    where hour >= $start::timestamptz and hour < $end::timestamptz
    group by hour
),

keywords as (
    select 'keywords' as dataset, hour as bucket, count(*) as row_count
    from core.keywords
    where hour >= $start::timestamptz and hour < $end::timestamptz
    group by hour
),

inventory as (
    select 'inventory' as dataset, snapshot_at as bucket, count(*) as row_count
    from core.inventory
    where snapshot_at >= $start::timestamptz and snapshot_at < $end::timestamptz
    group by snapshot_at
),

orders as (
    select
        'orders' as dataset,
        time_bucket(interval 15 minutes, created_at) as bucket,
        count(*) as row_count
    from core.orders
    where created_at >= $start::timestamptz and created_at < $end::timestamptz
    group by time_bucket(interval 15 minutes, created_at)
)

select dataset, bucket, row_count from traffic
union all
select dataset, bucket, row_count from keywords
union all
select dataset, bucket, row_count from inventory
union all
select dataset, bucket, row_count from orders
