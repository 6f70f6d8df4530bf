-- exports that failed after their retries in a run whose clock stood at $as_of
with failures as (
    select dataset, error, failed_at
    from ops.export_failures
    where window_end = $as_of::timestamptz
)

select dataset, error
from failures
order by dataset, failed_at
