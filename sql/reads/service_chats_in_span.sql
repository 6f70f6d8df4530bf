-- customer-service chats started in [$start, $end)
with chats as (
    select chat_id, started_at, first_response_at, responder, resolved, sku_id
    from core.service_chats
    where started_at >= $start::timestamptz and started_at < $end::timestamptz
)

select chat_id, started_at, first_response_at, responder, resolved, sku_id
from chats
