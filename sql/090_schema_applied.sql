-- the digest of the numbered DDL files last applied to this file: a warehouse opened with the
-- same files skips them
create table if not exists ops.schema_applied (
    digest varchar not null,
    applied_at timestamptz not null
);
