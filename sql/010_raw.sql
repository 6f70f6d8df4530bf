-- every record exactly as the export returned it, tagged with the batch that landed it
create table if not exists raw.records (
    batch_id varchar not null,
    dataset varchar not null,
    seq bigint not null,
    record json not null,
    landed_at timestamptz not null default current_timestamp
);
