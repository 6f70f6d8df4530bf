-- record that a dataset's extracted window covered the hours in $hours (a later extraction
-- of the same hour replaces the row)
insert or replace into ops.coverage (dataset, hour, batch_id, covered_at)
select $dataset, unnest($hours::timestamptz[]), $batch_id, current_timestamp
