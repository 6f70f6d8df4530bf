-- promotion SKUs at one stock cover as_of, least cover first (no cover figure last)
with cover as (
    select
        sku_id, available, velocity_per_hour, hours_of_cover, projected_stockout_at,
        promo_id, promo_starts_at, promo_ends_at, cover_note
    from mart.stock_cover
    where as_of = $as_of::timestamptz and promo_id is not null
),

products as (
    select sku_id, title, safety_stock
    from core.products
),

promotions as (
    select promo_id, name as promo_name, kind as promo_kind
    from core.promotions
),

joined as (
    select
        cover.sku_id, products.title, products.safety_stock, cover.available,
        cover.velocity_per_hour, cover.hours_of_cover, cover.projected_stockout_at,
        cover.promo_id, promotions.promo_name, promotions.promo_kind, cover.promo_starts_at,
        cover.promo_ends_at, cover.cover_note
    from cover
    left join products on products.sku_id = cover.sku_id
    left join promotions on promotions.promo_id = cover.promo_id
)

select
    sku_id, title, safety_stock, available, velocity_per_hour, hours_of_cover,
    projected_stockout_at, promo_id, promo_name, promo_kind, promo_starts_at, promo_ends_at,
    cover_note
from joined
order by hours_of_cover asc nulls last, available asc nulls last, sku_id
limit $limit
