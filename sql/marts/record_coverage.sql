-- record that the extracted windows of the datasets in $datasets covered the hours in
-- $hours, each with its batch ($batch_ids, by position); a later extraction of the same hour
-- replaces the row
with batches as (
    select
        unnest($datasets::varchar[]) as dataset,
        unnest($batch_ids::varchar[]) as batch_id
)

insert or replace into ops.coverage (dataset, hour, batch_id, covered_at)
select dataset, unnest($hours::timestamptz[]), batch_id, current_timestamp
from batches
