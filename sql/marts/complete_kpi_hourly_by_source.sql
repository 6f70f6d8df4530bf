-- mark mart.kpi_hourly_by_source rows complete or not from the flags in _complete_hours
update mart.kpi_hourly_by_source as k
set complete = f.complete
from _complete_hours as f
where k.hour = f.hour
