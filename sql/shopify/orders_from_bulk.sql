-- a bulk operation's JSONL result (one object a line, nested connections flattened with
-- __parentId) as the three relations order_lines reads
create or replace temp table shopify_bulk as
select json as j from read_json_objects($path, format = 'newline_delimited');

create or replace temp table shopify_orders as
select j as o from shopify_bulk
where j ->> '__parentId' is null and j ->> 'id' like 'gid://shopify/Order/%';

create or replace temp table shopify_lines as
select j ->> '__parentId' as order_gid, j as l from shopify_bulk
where j ->> 'id' like 'gid://shopify/LineItem/%';

create or replace temp table shopify_refund_lines as
with refunds as (
    select o ->> 'id' as order_gid, unnest(from_json(o -> 'refunds', '["json"]')) as r
    from shopify_orders
),
refund_lines as (
    select j ->> '__parentId' as refund_gid, j as rl from shopify_bulk
    where j ->> '__parentId' like 'gid://shopify/Refund/%'
)
select
    refunds.order_gid,
    refunds.r ->> 'createdAt' as created_at,
    refund_lines.rl ->> 'restockType' as restock_type,
    refund_lines.rl -> 'lineItem' ->> 'id' as line_gid
from refunds
join refund_lines on refund_lines.refund_gid = refunds.r ->> 'id';

drop table shopify_bulk;
