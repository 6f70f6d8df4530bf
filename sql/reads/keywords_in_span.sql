-- search keyword rows of the hours in [$start, $end)
with keywords as (
    select hour, keyword, impressions, clicks, visitors, buyers, pay_amount
    from core.keywords
    where hour >= $start::timestamptz and hour < $end::timestamptz
)

select hour, keyword, impressions, clicks, visitors, buyers, pay_amount
from keywords
