-- what the dashboard shows: the latest complete KPI hour, the latest stock cover and the
-- latest keyword day
with kpi as (
    select max(hour) as latest_hour
    from mart.kpi_hourly
    where complete is not false
),

stock as (
    select max(as_of) as stock_as_of
    from mart.stock_cover
),

keywords as (
    select max(day) as keyword_day
    from mart.keyword_daily
)

select kpi.latest_hour, stock.stock_as_of, keywords.keyword_day
from kpi
cross join stock
cross join keywords
