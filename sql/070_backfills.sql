-- backfill chunks (README "Deploy and scale"): one row per chunk per backfill, so a rerun can resume and
-- the watermark can advance over history that is loaded without a gap
create table if not exists ops.backfill_chunks (
    backfill_id varchar not null,
    chunk_start timestamptz not null,
    chunk_end timestamptz not null,
    alerts varchar not null,
    status varchar not null,
    counts json,
    failed_dataset varchar,
    error varchar,
    seconds double,
    finished_at timestamptz not null,
    primary key (backfill_id, chunk_start)
);
