-- mark mart.kpi_hourly rows complete or not from the flags registered as _complete_hours
update mart.kpi_hourly as k
set complete = f.complete
from _complete_hours as f
where k.hour = f.hour
