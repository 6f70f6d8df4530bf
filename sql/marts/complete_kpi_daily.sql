-- mark mart.kpi_daily rows complete or not from the flags registered as _complete_days
update mart.kpi_daily as k
set complete = f.complete
from _complete_days as f
where k.day = f.day
