-- the search keywords of one local day, most paid-for first
with keywords as (
    select
        keyword, impressions, clicks, click_rate, visitors, buyers, conversion_rate, gmv
    from mart.keyword_daily
    where day = $day::date
)

select keyword, impressions, clicks, click_rate, visitors, buyers, conversion_rate, gmv
from keywords
order by gmv desc, visitors desc, keyword
limit $limit
