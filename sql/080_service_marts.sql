-- the service, review and shipping marts (issue 17); columns match transforms/service.py.
-- service_hourly is replaced per touched hour, the daily ones per touched local day.
create table if not exists mart.service_hourly (
    hour timestamptz primary key,
    chats bigint not null,
    answered bigint not null,
    answered_30s bigint not null,
    answered_30s_share double,
    unanswered bigint not null,
    bot_chats bigint not null,
    agent_chats bigint not null,
    bot_median_seconds double,
    bot_p90_seconds double,
    agent_median_seconds double,
    agent_p90_seconds double
);

create table if not exists mart.review_daily (
    day date primary key,
    reviews bigint not null,
    rating_1 bigint not null,
    rating_2 bigint not null,
    rating_3 bigint not null,
    rating_4 bigint not null,
    rating_5 bigint not null,
    negative bigint not null,
    negative_share double,
    avg_rating double,
    replied bigint not null,
    median_reply_hours double
);

create table if not exists mart.shipping_daily (
    day date primary key,
    due bigint not null,
    shipped_on_time bigint not null,
    shipped_late bigint not null,
    unshipped bigint not null,
    on_time_rate double,
    returns bigint not null
);

create table if not exists mart.returns_daily (
    day date not null,
    reason varchar not null,
    returns bigint not null,
    primary key (day, reason)
);
