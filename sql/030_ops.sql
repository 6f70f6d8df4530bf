-- operational state: runs, watermarks and quarantined records
create table if not exists ops.runs (
    run_id varchar primary key,
    kind varchar not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    window_start timestamptz,
    window_end timestamptz,
    status varchar not null,
    counts json,
    quarantined bigint not null default 0,
    duration_seconds double,
    error varchar
);

create table if not exists ops.watermarks (
    dataset varchar primary key,
    watermark timestamptz not null,
    updated_at timestamptz not null
);

create table if not exists ops.quarantine (
    batch_id varchar not null,
    dataset varchar not null,
    seq bigint not null,
    reason varchar not null,
    record json not null,
    record_hash varchar not null,
    quarantined_at timestamptz not null default current_timestamp,
    -- the same bad record landed twice is kept once
    primary key (dataset, record_hash)
);

-- export failures after retries, read by the data_gap rule
create table if not exists ops.export_failures (
    run_id varchar not null,
    dataset varchar not null,
    window_start timestamptz,
    window_end timestamptz not null,
    error varchar not null,
    failed_at timestamptz not null
);

-- quarter hours whose loaded rows changed and whose marts are not refreshed yet: written in
-- the load's transaction, cleared in the refresh's, so a run killed between the two leaves
-- them for the next run (a reload of unchanged rows touches nothing by itself)
create table if not exists ops.pending_refresh (
    t timestamptz primary key
);
