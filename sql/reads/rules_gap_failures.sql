-- exports of $datasets that failed after their retries in runs whose clock stood in
-- ($start, $as_of]: the hours they would have loaded are gaps until a later load fills them
with failures as (
    select dataset, window_start, window_end
    from ops.export_failures
    where
        dataset in (select unnest($datasets::varchar[]))
        and window_end > $start::timestamptz
        and window_end <= $as_of::timestamptz
)

select dataset, window_start, window_end
from failures
order by dataset, window_end
