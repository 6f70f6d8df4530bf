-- mart.keyword_daily for the local days [$first_day, $last_day]
with keywords as (
    select day, keyword, visitors, buyers, gmv
    from mart.keyword_daily
    where day >= $first_day::date and day <= $last_day::date
)

select day, keyword, visitors, buyers, gmv
from keywords
order by day, keyword
