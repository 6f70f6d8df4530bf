-- loads that can fill an earlier gap, one row per dataset they loaded: runs whose clock
-- stood in ($start, $as_of] (clock = that instant), and every loaded backfill chunk ending
-- after $start (clock null: a backfill restates history, whenever it ran)
with runs as (
    select window_start as fill_start, window_end as fill_end, window_end as clock, counts
    from ops.runs
    where
        kind <> 'backfill'
        and counts is not null
        and window_start is not null
        and window_end > $start::timestamptz
        and window_end <= $as_of::timestamptz
),

chunks as (
    select
        chunk_start as fill_start,
        chunk_end as fill_end,
        cast(null as timestamptz) as clock,
        counts
    from ops.backfill_chunks
    where status = 'loaded' and counts is not null and chunk_end > $start::timestamptz
),

loads as (
    select fill_start, fill_end, clock, counts from runs
    union all
    select fill_start, fill_end, clock, counts from chunks
)

select unnest(json_keys(counts)) as dataset, fill_start, fill_end, clock
from loads
