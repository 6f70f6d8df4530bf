"""How long the hourly KPI refresh takes for one new hour, with a week vs a year of history.

    .venv/bin/python -m bench.kpi_refresh --days 7 365 --lines-per-hour 5000 --runs 8

Core rows are generated straight into DuckDB (no HTTP, no staging) by a deterministic model of
a mid-size shop: order lines that are created, paid (or cancelled after 20 minutes), shipped a
day later, completed after five days, and ~3% refunded 1-7 days after payment; traffic per
hour × source × SKU, inventory per hour × SKU × warehouse, search keywords per hour, and a
24-hour promotion every week. The marts are built for the whole history first. Each measured
hour then upserts the lines whose state changed in it (new lines and late updates alike),
computes the touched instants as flows/warehouse/load.py does, checkpoints, and times
`refresh_marts` alone (wall and process CPU). The warehouses take turns, so a busy machine
slows all alike.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from flows.warehouse import Warehouse
from flows.warehouse.marts import refresh_marts
from transforms import hour_windows

__all__ = ["Shop", "advance_hour", "build_marts", "fill_stock_history", "populate"]

HOUR_US = 3_600_000_000
SOURCES = ("search", "recommend", "direct", "ads", "social")


@dataclass(frozen=True)
class Shop:
    """The generated shop's size; `origin` is when its history starts (an hour start)."""

    origin: datetime
    lines_per_hour: int = 5000
    skus: int = 200
    keywords: int = 300
    warehouses: int = 2

    @property
    def buyers(self) -> int:
        return self.lines_per_hour * 40

    def line_index(self, at: datetime) -> int:
        """The first line created at or after `at` (lines come in pairs, one order each)."""
        hours = (at - self.origin) / timedelta(hours=1)
        return max(0, 2 * math.ceil(hours * self.lines_per_hour / 2))


# the state of lines [$first, $last) as known at $known (exclusive): the same model yields the
# history and every later hour's updates
_LINES = """
with lines as (
    select
        i,
        'T' || lpad((i // 2)::varchar, 10, '0') as order_id,
        'SKU' || lpad(((hash(i // 2, 'sku') % $skus + (i % 2) * 7) % $skus)::varchar, 4, '0')
            as sku_id,
        'U' || lpad((hash(i // 2, 'buyer') % $buyers)::varchar, 8, '0') as buyer_id,
        (1 + hash(i, 'qty') % 3)::integer as quantity,
        (20 + hash((hash(i // 2, 'sku') % $skus + (i % 2) * 7) % $skus, 'price') % 180)::double
            as unit_price,
        hash(i // 2, 'class') % 100 as class,
        hash(i // 2, 'lag') as lag,
        hash(i // 2, 'src') % 100 as src,
        $origin::timestamptz + to_microseconds(((i // 2) * 2 * 3600000000 // $lph)::bigint)
            as created_at
    from range($first, $last) as r(i)
),

events as (
    select
        *,
        case when class >= 6 then created_at + to_seconds((lag % 600)::bigint) end as paid,
        case when class < 6 then created_at + interval 20 minute end as cancelled
    from lines
),

timeline as (
    select
        *,
        paid + interval 1 day as shipped,
        paid + interval 5 day as completed,
        case when class between 6 and 8
            then paid + to_seconds((86400 + (lag // 1000) % (6 * 86400))::bigint) end as refunded
    from events
),

known as (
    select
        *,
        case
            when cancelled < $known::timestamptz then 'cancelled'
            when paid is null or paid >= $known::timestamptz then 'created'
            when refunded < $known::timestamptz then 'refunded'
            when completed < $known::timestamptz then 'completed'
            when shipped < $known::timestamptz then 'shipped'
            else 'paid'
        end as status
    from timeline
    where created_at < $known::timestamptz
)

select
    order_id,
    sku_id,
    buyer_id,
    quantity,
    unit_price,
    quantity * unit_price as pay_amount,
    status,
    case
        when src < 60 then 'search' when src < 80 then 'recommend' when src < 90 then 'direct'
        when src < 97 then 'ads' else 'social'
    end as source,
    null as promo_id,
    created_at,
    case when status not in ('created', 'cancelled') then paid end as paid_at,
    case status
        when 'cancelled' then cancelled when 'created' then created_at when 'paid' then paid
        when 'shipped' then shipped when 'completed' then completed else refunded
    end as updated_at,
    null as extra
from known
"""

_TRAFFIC = """
with hours as (
    select $origin::timestamptz + to_microseconds(h * 3600000000) as hour, h
    from range($h0, $h1) as r(h)
),

cells as (
    select hour, h, s, k, 5 + hash(h, s, k) % 91 as visitors
    from hours, range($sources) as a(s), range($skus) as b(k)
)

select
    hour,
    ['search', 'recommend', 'direct', 'ads', 'social'][s + 1] as source,
    'SKU' || lpad(k::varchar, 4, '0') as sku_id,
    visitors,
    visitors * 2 + hash(h, s, k, 'pv') % 5 as page_views,
    visitors * 3 // 10 as bounces,
    visitors // 8 as add_to_cart,
    visitors // 12 as favorites,
    null as extra
from cells
"""

_INVENTORY = """
select
    $origin::timestamptz + to_microseconds(h * 3600000000) as snapshot_at,
    'SKU' || lpad(k::varchar, 4, '0') as sku_id,
    'WH' || w as warehouse,
    (hash(h // 24, k, w) % 300)::bigint as on_hand,
    (hash(h, k, w) % 10)::bigint as reserved,
    null as extra
from range($h0, $h1) as r(h), range($skus) as b(k), range($warehouses) as c(w)
"""

_KEYWORDS = """
with cells as (
    select $origin::timestamptz + to_microseconds(h * 3600000000) as hour, h, k,
        1000 + hash(h, k) % 5000 as impressions
    from range($h0, $h1) as r(h), range($keywords) as b(k)
)

select hour, 'kw' || lpad(k::varchar, 4, '0') as keyword, impressions,
    impressions // 20 as clicks, impressions * 9 // 200 as visitors,
    impressions // 600 as buyers, (impressions // 600) * 99.5 as pay_amount, null as extra
from cells
"""


def _params(shop: Shop, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "origin": shop.origin,
        "lph": shop.lines_per_hour,
        "skus": shop.skus,
        "buyers": shop.buyers,
    }
    return {**base, **extra}


def _hourly(con: duckdb.DuckDBPyConnection, shop: Shop, h0: int, h1: int) -> None:
    hours = {"origin": shop.origin, "h0": h0, "h1": h1, "skus": shop.skus}
    con.execute(
        f"insert or replace into core.traffic {_TRAFFIC}", {**hours, "sources": len(SOURCES)}
    )
    con.execute(
        f"insert or replace into core.inventory {_INVENTORY}",
        {**hours, "warehouses": shop.warehouses},
    )
    con.execute(
        f"insert or replace into core.keywords {_KEYWORDS}",
        {"origin": shop.origin, "h0": h0, "h1": h1, "keywords": shop.keywords},
    )


def populate(con: duckdb.DuckDBPyConnection, shop: Shop, hours: int) -> None:
    """Fill core with `hours` hours of history from shop.origin, as known at its end."""
    known = shop.origin + timedelta(hours=hours)
    chunk = 24 * 7
    for h0 in range(0, hours, chunk):
        h1 = min(hours, h0 + chunk)
        first = shop.line_index(shop.origin + timedelta(hours=h0))
        last = shop.line_index(shop.origin + timedelta(hours=h1))
        con.execute(
            f"insert into core.orders {_LINES}",
            _params(shop, first=first, last=last, known=known),
        )
        _hourly(con, shop, h0, h1)
    weeks = -(-hours // (24 * 7))
    con.execute(
        """
        insert or replace into core.promotions
        select 'P' || w, 'weekly deal ' || w, 'discount',
            $origin::timestamptz + to_days((w * 7 + 3)::integer),
            $origin::timestamptz + to_days((w * 7 + 4)::integer),
            null, null, $origin::timestamptz, null
        from range($weeks) as r(w)
        """,
        {"origin": shop.origin, "weeks": weeks},
    )
    con.execute(
        """
        insert or replace into core.promotion_items
        select 'P' || w, 'SKU' || lpad(k::varchar, 4, '0'), 9.9, 100
        from range($weeks) as r(w), range(least($skus, 20)) as b(k)
        """,
        {"weeks": weeks, "skus": shop.skus},
    )


def advance_hour(con: duckdb.DuckDBPyConnection, shop: Shop, hour: datetime) -> pl.Series:
    """Load hour [hour, hour+1h) as an hourly run would; returns the touched instants.

    Upserts every line whose state changed in the hour (new, paid, cancelled, shipped,
    completed, refunded), and the hour's traffic, inventory and keywords. The touched
    instants are what flows/warehouse/load.py reports: 15-minute buckets of created_at, paid_at and
    updated_at of the new versions and of the versions they replace, and the hours loaded.
    """
    end = hour + timedelta(hours=1)
    first = shop.line_index(max(shop.origin, hour - timedelta(days=8)))
    last = shop.line_index(end)
    con.execute(
        f"create or replace temp table _delta as select * from ({_LINES})"
        " where updated_at >= $hour",
        _params(shop, first=first, last=last, known=end, hour=hour),
    )
    touched = con.sql(
        """
        with versions as (
            select created_at, paid_at, updated_at from _delta
            union all
            select c.created_at, c.paid_at, c.updated_at
            from _delta as d
            inner join core.orders as c on c.order_id = d.order_id and c.sku_id = d.sku_id
        ),

        instants as (
            select created_at as t from versions
            union all select paid_at from versions
            union all select updated_at from versions
            union all select $hour::timestamptz
        )

        select distinct time_bucket(interval 15 minute, t) as t
        from instants
        where t is not null
        order by t
        """,
        params={"hour": hour},
    ).pl()
    con.execute("insert or replace into core.orders select * from _delta")
    h = int((hour - shop.origin) / timedelta(hours=1))
    _hourly(con, shop, h, h + 1)
    con.execute("drop table _delta")
    return touched.get_column("t").cast(pl.Datetime("us", "UTC"))


def build_marts(wh: Warehouse, tz: str, start: datetime, end: datetime) -> None:
    """Compute every mart for [start, end) a week at a time, as a backfill would."""
    step = timedelta(days=7)
    at = start
    while at < end:
        hours = hour_windows(at, min(end, at + step), tz)
        with wh.transaction():
            refresh_marts(wh, tz, hours)
        at += step


def fill_stock_history(wh: Warehouse, shop: Shop, hours: int) -> None:
    # one stock_cover slice per past hour, as the hourly runs would have left behind
    wh.execute(
        """
        insert into mart.stock_cover
        select
            $origin::timestamptz + to_microseconds(h * 3600000000),
            'SKU' || lpad(k::varchar, 4, '0'),
            null, 100, 1.0, 100.0, null, null, null, null, null
        from range(1, $hours) as r(h), range($skus) as b(k)
        """,
        {"origin": shop.origin, "hours": hours, "skus": shop.skus},
    )


@dataclass
class Bench:
    """One warehouse under test: its shop, and where its next hour starts."""

    days: int
    shop: Shop
    wh: Warehouse
    next_hour: datetime
    timings: list[tuple[float, float]]


def open_bench(days: int, lines_per_hour: int, tz: str, path: Path) -> Bench:
    """Open (building it if new) a warehouse holding `days` of history."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    shop = Shop(origin=start - timedelta(days=days), lines_per_hour=lines_per_hour)
    wh = Warehouse(path)
    last = wh.rows("select max(hour) from core.traffic")[0][0]
    if last is None:
        started = time.monotonic()
        populate(wh.con, shop, days * 24)
        build_marts(wh, tz, shop.origin, start)
        fill_stock_history(wh, shop, days * 24)
        wh.execute("checkpoint")
        print(f"{days:>4} days: built in {time.monotonic() - started:.0f} s", flush=True)
    else:
        start = last.astimezone(UTC) + timedelta(hours=1)
    rows = wh.rows("select count(*) from core.orders")[0][0]
    print(f"{days:>4} days: {rows:,} order lines before {start:%Y-%m-%d %H:%M}Z", flush=True)
    return Bench(days, shop, wh, start, [])


def lookback_touched(wh: Warehouse, hour: datetime, hours: int) -> pl.Series:
    """What the loader also touches when it re-reads `hours` of orders before `hour`.

    flows/warehouse/load.py reports every staged row, changed or not, so a run with a lookback
    re-touches the created/paid/updated instants of all lines updated in that window.
    """
    frame = wh.frame(
        """
        with lines as (
            select created_at, paid_at, updated_at
            from core.orders
            where updated_at >= $since::timestamptz and updated_at < $until::timestamptz
        ),

        instants as (
            select created_at as t from lines
            union all select paid_at from lines
            union all select updated_at from lines
        )

        select distinct time_bucket(interval 15 minute, t) as t
        from instants
        where t is not null
        """,
        {"since": hour - timedelta(hours=hours), "until": hour + timedelta(hours=1)},
    )
    return frame.get_column("t").cast(pl.Datetime("us", "UTC"))


def step(bench: Bench, tz: str, lookback_hours: int) -> None:
    """Load the bench's next hour, then time refresh_marts for what it touched."""
    hour = bench.next_hour
    touched = advance_hour(bench.wh.con, bench.shop, hour)
    if lookback_hours:
        touched = pl.concat([touched, lookback_touched(bench.wh, hour, lookback_hours)]).unique()
    # flush the load's WAL now, so an automatic checkpoint is not billed to the refresh
    bench.wh.execute("checkpoint")
    wall, cpu = time.monotonic(), time.process_time()
    with bench.wh.transaction():
        hours = refresh_marts(bench.wh, tz, touched)
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    bench.timings.append((wall, cpu))
    bench.next_hour = hour + timedelta(hours=1)
    days = touched.dt.convert_time_zone(tz).dt.date().n_unique()
    print(
        f"{bench.days:>4} days, hour {hour:%m-%d %H:%M}Z: {hours} hours on {days} days"
        f" refreshed in {wall * 1000:.0f} ms (cpu {cpu * 1000:.0f} ms)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--days", type=int, nargs="+", default=[7, 365])
    parser.add_argument("--lines-per-hour", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timezone", default="Asia/Shanghai")
    parser.add_argument(
        "--lookback-hours",
        type=int,
        default=0,
        help="also touch what a run re-reading this many hours of orders touches",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--keep", action="store_true", help="keep the warehouses in --workdir and reuse them"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        benches = []
        for days in args.days:
            path = workdir / f"bench-{days}d-{args.lines_per_hour}.duckdb"
            if not args.keep:
                path.unlink(missing_ok=True)
            benches.append(open_bench(days, args.lines_per_hour, args.timezone, path))
        try:
            # interleaved, so a busy machine slows every history size alike
            for _ in range(args.runs):
                for bench in benches:
                    step(bench, args.timezone, args.lookback_hours)
        finally:
            for bench in benches:
                bench.wh.close()
                if not args.keep:
                    bench.wh.path.unlink(missing_ok=True)
    base_wall = statistics.median(w for w, _ in benches[0].timings)
    base_cpu = statistics.median(c for _, c in benches[0].timings)
    for bench in benches:
        wall = statistics.median(w for w, _ in bench.timings)
        cpu = statistics.median(c for _, c in bench.timings)
        print(
            f"{bench.days:>4} days of history: median {wall * 1000:.0f} ms wall"
            f" ({wall / base_wall - 1:+.0%}), {cpu * 1000:.0f} ms cpu ({cpu / base_cpu - 1:+.0%})"
            f" per new hour, vs {benches[0].days} days"
        )


if __name__ == "__main__":
    main()
