-- mart.kpi_hourly_by_source for the hours [$start, $end)
with by_source as (
    select hour, source, visitors, buyers, gmv
    from mart.kpi_hourly_by_source
    where hour >= $start::timestamptz and hour < $end::timestamptz
)

select hour, source, visitors, buyers, gmv
from by_source
order by hour, source
