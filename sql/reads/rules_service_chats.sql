-- chats started in [$start, $end), with their first response only if it came before $as_of
with chats as (
    select chat_id, started_at, first_response_at, responder
    from core.service_chats
    where started_at >= $start::timestamptz and started_at < $end::timestamptz
),

as_known as (
    select
        chat_id,
        started_at,
        case when first_response_at < $as_of::timestamptz then first_response_at end
            as first_response_at,
        case when first_response_at < $as_of::timestamptz then responder end as responder
    from chats
)

select chat_id, started_at, first_response_at, responder
from as_known
