-- typed, deduplicated business tables; the latest version of each key wins
create table if not exists core.orders (
    order_id varchar not null,
    sku_id varchar not null,
    buyer_id varchar not null,
    quantity integer not null,
    unit_price double not null,
    pay_amount double not null,
    status varchar not null,
    source varchar not null,
    promo_id varchar,
    created_at timestamptz not null,
    paid_at timestamptz,
    updated_at timestamptz not null,
    extra json,
    primary key (order_id, sku_id)
);

create table if not exists core.traffic (
    hour timestamptz not null,
    source varchar not null,
    sku_id varchar not null,
    visitors bigint not null,
    page_views bigint not null,
    bounces bigint not null,
    add_to_cart bigint not null,
    favorites bigint not null,
    extra json,
    primary key (hour, source, sku_id)
);

create table if not exists core.inventory (
    snapshot_at timestamptz not null,
    sku_id varchar not null,
    warehouse varchar not null,
    on_hand bigint not null,
    reserved bigint not null,
    extra json,
    primary key (snapshot_at, sku_id, warehouse)
);

create table if not exists core.products (
    sku_id varchar primary key,
    title varchar not null,
    category varchar,
    list_price double not null,
    lowest_price_90d double,
    safety_stock integer not null,
    updated_at timestamptz not null,
    extra json,
);

create table if not exists core.promotions (
    promo_id varchar primary key,
    name varchar not null,
    kind varchar not null,
    starts_at timestamptz not null,
    ends_at timestamptz not null,
    threshold_amount double,
    discount_amount double,
    updated_at timestamptz not null,
    extra json,
);

create table if not exists core.promotion_items (
    promo_id varchar not null,
    sku_id varchar not null,
    promo_price double not null,
    stock_commitment bigint,
    primary key (promo_id, sku_id)
);

create table if not exists core.keywords (
    hour timestamptz not null,
    keyword varchar not null,
    impressions bigint not null,
    clicks bigint not null,
    visitors bigint not null,
    buyers bigint not null,
    pay_amount double not null,
    extra json,
    primary key (hour, keyword)
);

create table if not exists core.service_chats (
    chat_id varchar primary key,
    buyer_id varchar not null,
    started_at timestamptz not null,
    first_response_at timestamptz,
    responder varchar,
    resolved boolean not null,
    sku_id varchar,
    updated_at timestamptz not null,
    extra json
);

create table if not exists core.reviews (
    review_id varchar primary key,
    order_id varchar not null,
    sku_id varchar not null,
    buyer_id varchar not null,
    rating integer not null,
    text varchar,
    has_images boolean not null,
    ip_hash varchar,
    created_at timestamptz not null,
    replied_at timestamptz,
    updated_at timestamptz not null,
    extra json
);

create table if not exists core.shipments (
    order_id varchar primary key,
    promised_ship_by timestamptz not null,
    shipped_at timestamptz,
    returned_at timestamptz,
    return_reason varchar,
    updated_at timestamptz not null,
    extra json
);
