-- reviews and shipping of the latest local days that have them, latest first
with reviews as (
    select day, reviews, negative, negative_share, avg_rating, median_reply_hours
    from mart.review_daily
    where day <= $day::date and day > $day::date - $days::integer
),

shipping as (
    select day, due, on_time_rate, shipped_late, unshipped, returns
    from mart.shipping_daily
    where day <= $day::date and day > $day::date - $days::integer
)

select
    coalesce(r.day, s.day) as day,
    r.reviews,
    r.negative,
    r.negative_share,
    r.avg_rating,
    r.median_reply_hours,
    s.due,
    s.on_time_rate,
    s.shipped_late,
    s.unshipped,
    s.returns
from reviews as r
full outer join shipping as s on s.day = r.day
order by day desc
