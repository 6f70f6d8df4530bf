-- the KPI marts beside mart.kpi_hourly (docs/kpis.md); columns match transforms/*_SCHEMA.
-- Hourly and daily marts are replaced per touched hour/day by each run; stock_cover and
-- rfm_segments per as_of. The per-SKU and per-buyer tables grow by millions of rows a year,
-- so they carry no primary-key index: their refresh replaces whole as_of/hour slices.
create table if not exists mart.kpi_hourly_by_source (
    hour timestamptz not null,
    source varchar not null,
    visitors bigint not null,
    page_views bigint not null,
    bounces bigint not null,
    bounce_rate double,
    add_to_cart bigint not null,
    favorites bigint not null,
    paid_orders bigint not null,
    buyers bigint not null,
    units bigint not null,
    gmv double not null,
    conversion_rate double,
    aov double,
    created_lines bigint not null,
    cancelled_orders bigint not null,
    cancel_rate double,
    refund_amount double not null,
    in_promo boolean not null,
    complete boolean,
    primary key (hour, source)
);

create table if not exists mart.kpi_daily (
    day date primary key,
    visitors bigint not null,
    page_views bigint not null,
    bounces bigint not null,
    bounce_rate double,
    add_to_cart bigint not null,
    favorites bigint not null,
    paid_orders bigint not null,
    buyers bigint not null,
    units bigint not null,
    gmv double not null,
    conversion_rate double,
    aov double,
    created_lines bigint not null,
    cancelled_orders bigint not null,
    cancel_rate double,
    refund_amount double not null,
    in_promo boolean not null,
    complete boolean
);

create table if not exists mart.sku_hourly (
    hour timestamptz not null,
    sku_id varchar not null,
    visitors bigint not null,
    add_to_cart bigint not null,
    units bigint not null,
    gmv double not null,
    buyers bigint not null
);

create table if not exists mart.keyword_daily (
    day date not null,
    keyword varchar not null,
    impressions bigint not null,
    clicks bigint not null,
    click_rate double,
    visitors bigint not null,
    buyers bigint not null,
    conversion_rate double,
    gmv double not null,
    primary key (day, keyword)
);

create table if not exists mart.stock_cover (
    as_of timestamptz not null,
    sku_id varchar not null,
    snapshot_at timestamptz,
    available bigint,
    velocity_per_hour double not null,
    hours_of_cover double,
    projected_stockout_at timestamptz,
    promo_id varchar,
    promo_starts_at timestamptz,
    promo_ends_at timestamptz,
    cover_note varchar
);

create table if not exists mart.rfm_segments (
    as_of timestamptz not null,
    buyer_id varchar not null,
    recency_days bigint not null,
    frequency bigint not null,
    monetary double not null,
    r_score bigint not null,
    f_score bigint not null,
    m_score bigint not null,
    segment varchar not null
);
