-- exports that failed after their retries in a run whose clock stood at $as_of, and that no
-- later load has made good: a dataset whose watermark reached $as_of after the failure was
-- loaded by a later run (a rerun of the hour, or a run that caught up)
with failures as (
    select dataset, error, failed_at
    from ops.export_failures
    where window_end = $as_of::timestamptz
),

caught_up as (
    select dataset, updated_at
    from ops.watermarks
    where watermark >= $as_of::timestamptz
),

open_failures as (
    select f.dataset, f.error, f.failed_at
    from failures as f
    left join caught_up as c
        on c.dataset = f.dataset and c.updated_at > f.failed_at
    where c.dataset is null
)

select dataset, error
from open_failures
order by dataset, failed_at
