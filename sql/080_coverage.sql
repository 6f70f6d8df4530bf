-- data completeness: which local hours each dataset's extracted windows covered. A KPI hour
-- is complete only when every dataset it is computed from (orders, traffic) covered it; the
-- hourly and daily KPI marts carry that as `complete`. A hour whose rows came only from a
-- later update (an order created before the first window) stays incomplete: it is shown
-- marked, and kept out of baselines and comparisons.
create table if not exists ops.coverage (
    dataset varchar not null,
    hour timestamptz not null,
    batch_id varchar not null,
    covered_at timestamptz not null,
    primary key (dataset, hour)
);

-- warehouses made before coverage was recorded: their rows keep complete = null (unknown)
alter table mart.kpi_hourly add column if not exists complete boolean;
alter table mart.kpi_hourly_by_source add column if not exists complete boolean;
alter table mart.kpi_daily add column if not exists complete boolean;
