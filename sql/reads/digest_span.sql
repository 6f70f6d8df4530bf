-- the digests' history check: the first and last KPI hour in the warehouse that is complete
-- (every dataset it needs was extracted for it); stray hours a short backfill or a first run
-- touched without reading them are no history
with hours as (
    select hour
    from mart.kpi_hourly
    where complete is not false
)

select min(hour) as first_hour, max(hour) as last_hour
from hours
