-- promotion SKUs' stock cover at the latest as_of not after $at, least cover first
with latest as (
    select max(as_of) as as_of
    from mart.stock_cover
    where as_of <= $at::timestamptz
),

cover as (
    select
        stock.as_of, stock.sku_id, stock.available, stock.velocity_per_hour,
        stock.hours_of_cover, stock.projected_stockout_at, stock.promo_id, stock.promo_ends_at,
        stock.cover_note
    from mart.stock_cover as stock
    inner join latest on stock.as_of = latest.as_of
    where stock.promo_id is not null
),

products as (
    select sku_id, title
    from core.products
)

select
    cover.as_of, cover.sku_id, products.title, cover.available, cover.velocity_per_hour,
    cover.hours_of_cover, cover.projected_stockout_at, cover.promo_id, cover.promo_ends_at,
    cover.cover_note
from cover
left join products on products.sku_id = cover.sku_id
order by cover.hours_of_cover asc nulls last, cover.sku_id
