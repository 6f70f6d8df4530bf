-- one page of the orders query (its nodes, nested) as the three relations order_lines reads
create or replace temp table shopify_orders as
select unnest(from_json($text::json, '["json"]')) as o;

create or replace temp table shopify_lines as
with source as (
    select o ->> 'id' as order_gid, o -> 'lineItems' -> 'nodes' as nodes from shopify_orders
)
select order_gid, unnest(from_json(nodes, '["json"]')) as l from source;

create or replace temp table shopify_refund_lines as
with refunds as (
    select o ->> 'id' as order_gid, unnest(from_json(o -> 'refunds', '["json"]')) as r
    from shopify_orders
),
lines as (
    select
        order_gid,
        r ->> 'createdAt' as created_at,
        unnest(from_json(r -> 'refundLineItems' -> 'nodes', '["json"]')) as rl
    from refunds
)
select
    order_gid,
    created_at,
    rl ->> 'restockType' as restock_type,
    rl -> 'lineItem' ->> 'id' as line_gid
from lines;
