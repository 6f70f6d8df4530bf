-- which datasets covered each local hour in [$start, $end)
with coverage as (
    select dataset, hour
    from ops.coverage
    where hour >= $start::timestamptz and hour < $end::timestamptz
)

select dataset, hour
from coverage
