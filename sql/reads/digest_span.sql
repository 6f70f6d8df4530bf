-- the digests' history check: the first and last KPI hour in the warehouse
with hours as (
    select hour
    from mart.kpi_hourly
)

select min(hour) as first_hour, max(hour) as last_hour
from hours
