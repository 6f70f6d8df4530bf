-- every distinct record the export returned, exactly as returned, tagged with the batch that
-- first landed it; a record re-read unchanged by a later lookback is counted in raw.batches,
-- not landed again (docs/architecture.md, "Raw: what is landed")
create table if not exists raw.records (
    batch_id varchar not null,
    dataset varchar not null,
    seq bigint not null,
    record json not null,
    landed_at timestamptz not null default current_timestamp
);
-- the record's window instant (null when unreadable) and hashes of its text and of its key
-- fields other than the window field: what the loader compares a re-read record against
alter table raw.records add column if not exists window_at timestamptz;
alter table raw.records add column if not exists record_hash ubigint;
alter table raw.records add column if not exists key_hash ubigint;

-- per landed batch: how many records the export returned for the window, how many were new
create table if not exists raw.batches (
    batch_id varchar primary key,
    dataset varchar not null,
    window_start timestamptz,
    window_end timestamptz not null,
    received bigint not null,
    landed bigint not null,
    landed_at timestamptz not null default current_timestamp
);
