-- schemas: raw (as landed), core (typed, deduplicated), mart (KPIs), ops (runs, alerts, outbox)
create schema if not exists raw;
create schema if not exists core;
create schema if not exists mart;
create schema if not exists ops;
