-- KPI tables (docs/kpis.md); each hourly run replaces the hours it touched
create table if not exists mart.kpi_hourly (
    hour timestamptz primary key,
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
