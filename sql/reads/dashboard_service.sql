-- customer service of the hours in ($end - $hours, $end], latest first
with hours as (
    select
        hour, chats, answered_30s_share, unanswered, bot_median_seconds, agent_median_seconds,
        agent_p90_seconds
    from mart.service_hourly
    where hour <= $end::timestamptz and hour > $end::timestamptz - $hours::interval
)

select
    hour, chats, answered_30s_share, unanswered, bot_median_seconds, agent_median_seconds,
    agent_p90_seconds
from hours
order by hour desc
