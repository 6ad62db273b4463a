"""Read-only queries behind the weekly report: gpu_usage over two weeks, then per scope.

``load_cells`` scans ``gpu_usage`` once for [previous Monday, next Monday) and keeps partial
sums per UTC day, job, team, state and price source in the temp table ``report_cells``
(temp tables work on a read-only connection). Every other query here reads that small table,
so a fleet report and any number of team reports cost one scan. Values are bind parameters
only; ``$team`` null means the whole fleet, else rows whose ``coalesce(team, namespace)``
equals it. Units: USD, GPU-hours, percent 0..100, shares 0..1.

Precondition: the public marts exist (schema >= 1); they may be empty.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from gpucost.report.model import STATES, JobCost, PriceSource, StateCost, TeamCost, Totals

HELD = "('active', 'allocated_idle')"  # job_costs' cost_usd / gpu_hours states

CELLS_SQL = f"""
create or replace temp table report_cells as
with usage as (
    select * from gpu_usage where ts >= $start and ts < $end
),
final as (
    select
        date_trunc('day', ts)              as day,
        cluster,
        namespace,
        job,
        team                               as pod_team,
        coalesce(team, namespace)          as team,
        state::varchar                     as state,
        price_source,
        count(*)                           as gpu_usage_rows,
        sum(cost_usd)                      as cost_usd,
        sum(gpu_hours)                     as gpu_hours,
        sum(util_pct * gpu_hours) filter (where state in {HELD} and util_pct is not null)
                                           as util_gpu_hours,
        sum(gpu_hours) filter (where state in {HELD} and util_pct is not null)
                                           as observed_gpu_hours,
        min(ts)                            as first_ts,
        max(ts)                            as last_ts
    from usage
    group by all
)
select * from final
"""

_SCOPE = "day >= $start and day < $end and ($team::varchar is null or team = $team::varchar)"

TOTALS_SQL = f"""
select
    coalesce(sum(gpu_usage_rows), 0)                           as gpu_usage_rows,
    coalesce(sum(cost_usd), 0)                                 as spend_usd,
    coalesce(sum(gpu_hours), 0)                                as gpu_hours,
    sum(util_gpu_hours) / nullif(sum(observed_gpu_hours), 0)   as util_pct,
    min(first_ts)                                              as first_ts,
    max(last_ts)                                               as last_ts
from report_cells
where {_SCOPE}
"""

BY_STATE_SQL = f"""
select state, sum(cost_usd) as cost_usd, sum(gpu_hours) as gpu_hours
from report_cells
where {_SCOPE}
group by state
"""

BY_DAY_SQL = f"""
select day as bucket_start, state, sum(cost_usd) as cost_usd, sum(gpu_hours) as gpu_hours
from report_cells
where {_SCOPE}
group by all
order by bucket_start, state
"""

TEAMS_SQL = f"""
with cells as (
    select * from report_cells
    where team is not null and ($team::varchar is null or team = $team::varchar)
),
this_week as (
    select
        team,
        count(distinct (cluster, namespace, job))                                     as jobs,
        coalesce(sum(gpu_hours) filter (where state in {HELD}), 0)                   as gpu_hours,
        coalesce(sum(gpu_hours) filter (where state = 'allocated_idle'), 0)          as idle_gpu_hours,
        coalesce(sum(gpu_hours) filter (where state = 'no_data'), 0)                 as no_data_gpu_hours,
        sum(util_gpu_hours) / nullif(sum(observed_gpu_hours), 0)                     as util_pct,
        coalesce(sum(cost_usd) filter (where state in {HELD}), 0)                    as cost_usd,
        coalesce(sum(cost_usd) filter (where state = 'allocated_idle'), 0)           as idle_cost_usd,
        coalesce(sum(cost_usd) filter (where state = 'no_data'), 0)                  as no_data_cost_usd
    from cells
    where day >= $start and day < $end
    group by team
),
previous_week as (
    select team, coalesce(sum(cost_usd) filter (where state in {HELD}), 0) as previous_cost_usd
    from cells
    where day >= $previous_start and day < $start
    group by team
),
final as (
    select
        t.*,
        coalesce(p.previous_cost_usd, 0) as previous_cost_usd,
        (t.cost_usd - p.previous_cost_usd) / nullif(p.previous_cost_usd, 0) * 100 as change_pct
    from this_week as t
    left join previous_week as p using (team)
)
select * from final order by cost_usd desc, team
"""

JOBS_SQL = f"""
with cells as (
    select * from report_cells where job is not null and {_SCOPE}
),
final as (
    select
        cluster,
        namespace,
        job,
        coalesce(min(pod_team), namespace)                                        as team,
        min(first_ts)                                                             as first_ts,
        max(last_ts)                                                              as last_ts,
        coalesce(sum(gpu_hours) filter (where state in {HELD}), 0)               as gpu_hours,
        coalesce(sum(gpu_hours) filter (where state = 'active'), 0)              as active_gpu_hours,
        coalesce(sum(gpu_hours) filter (where state = 'allocated_idle'), 0)      as idle_gpu_hours,
        coalesce(sum(gpu_hours) filter (where state = 'no_data'), 0)             as no_data_gpu_hours,
        sum(util_gpu_hours) / nullif(sum(observed_gpu_hours), 0)                 as util_pct,
        coalesce(sum(cost_usd) filter (where state in {HELD}), 0)                as cost_usd,
        coalesce(sum(cost_usd) filter (where state = 'allocated_idle'), 0)       as idle_cost_usd,
        coalesce(sum(cost_usd) filter (where state = 'no_data'), 0)              as no_data_cost_usd
    from cells
    group by cluster, namespace, job
)
select * from final order by idle_cost_usd desc, cost_usd desc, cluster, namespace, job
"""

PRICE_SOURCES_SQL = f"""
select price_source, sum(gpu_hours) as gpu_hours, sum(cost_usd) as cost_usd
from report_cells
where {_SCOPE}
group by price_source
order by cost_usd desc, price_source
"""

CLUSTERS_SQL = f"select distinct cluster from report_cells where {_SCOPE} order by cluster"

TEAM_SEEN_SQL = """
select 1 from gpu_usage where coalesce(team, namespace) = $team limit 1
"""

ALL_TEAMS_SQL = """
select distinct coalesce(team, namespace) as team from gpu_usage where namespace is not null order by team
"""


def _scope(start: datetime, end: datetime, team: str | None) -> dict[str, object]:
    return {"start": start, "end": end, "team": team}


def _none(value: object) -> object:
    return None if value is None or pd.isna(value) else value


def load_cells(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> None:
    """Aggregate gpu_usage rows with ts in [start, end) into the temp table report_cells."""
    con.execute(CELLS_SQL, {"start": start, "end": end})


def totals(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime,
           team: str | None) -> tuple[Totals, datetime | None, datetime | None]:
    """Headline totals of one scope over [start, end) (day-aligned), and its first/last step."""
    rows, spend, hours, util, first_ts, last_ts = con.execute(TOTALS_SQL, _scope(start, end, team)).fetchone()
    by_state = {s: (float(c), float(h)) for s, c, h in con.execute(BY_STATE_SQL, _scope(start, end, team)).fetchall()}
    states = []
    for s in STATES:
        cost, hours_ = by_state.get(s, (0.0, 0.0))
        states.append(StateCost(s, cost, hours_, cost / spend if spend else None))
    return Totals(int(rows), float(spend), float(hours), _none(util), tuple(states)), first_ts, last_ts


def by_day(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, team: str | None) -> pd.DataFrame:
    """Cost and GPU-hours per (UTC day, state): the frame figures.spend_by_state_over_time takes."""
    return con.execute(BY_DAY_SQL, _scope(start, end, team)).df()


def teams(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, previous_start: datetime,
          team: str | None) -> tuple[TeamCost, ...]:
    df = con.execute(TEAMS_SQL, {**_scope(start, end, team), "previous_start": previous_start}).df()
    return tuple(TeamCost(team=r.team, jobs=int(r.jobs), gpu_hours=float(r.gpu_hours),
                          idle_gpu_hours=float(r.idle_gpu_hours), no_data_gpu_hours=float(r.no_data_gpu_hours),
                          util_pct=_none(r.util_pct), cost_usd=float(r.cost_usd),
                          idle_cost_usd=float(r.idle_cost_usd), no_data_cost_usd=float(r.no_data_cost_usd),
                          previous_cost_usd=float(r.previous_cost_usd), change_pct=_none(r.change_pct))
                 for r in df.itertuples(index=False))


def jobs(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, team: str | None) -> pd.DataFrame:
    """Every job with usage in the window, most idle cost first (the jobs CSV)."""
    return con.execute(JOBS_SQL, _scope(start, end, team)).df()


def job_records(df: pd.DataFrame) -> tuple[JobCost, ...]:
    return tuple(JobCost(cluster=r.cluster, namespace=r.namespace, job=r.job, team=r.team,
                         first_ts=pd.Timestamp(r.first_ts).to_pydatetime(),
                         last_ts=pd.Timestamp(r.last_ts).to_pydatetime(),
                         gpu_hours=float(r.gpu_hours), active_gpu_hours=float(r.active_gpu_hours),
                         idle_gpu_hours=float(r.idle_gpu_hours), no_data_gpu_hours=float(r.no_data_gpu_hours),
                         util_pct=_none(r.util_pct), cost_usd=float(r.cost_usd),
                         idle_cost_usd=float(r.idle_cost_usd), no_data_cost_usd=float(r.no_data_cost_usd))
                 for r in df.itertuples(index=False))


def price_sources(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, team: str | None,
                  spend_usd: float) -> tuple[PriceSource, ...]:
    rows = con.execute(PRICE_SOURCES_SQL, _scope(start, end, team)).fetchall()
    return tuple(PriceSource(src, float(h), float(c), float(c) / spend_usd if spend_usd else None)
                 for src, h, c in rows)


def clusters(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, team: str | None) -> tuple[str, ...]:
    return tuple(r[0] for r in con.execute(CLUSTERS_SQL, _scope(start, end, team)).fetchall())


def team_known(con: duckdb.DuckDBPyConnection, team: str) -> bool:
    """Whether any gpu_usage row ever belonged to the team (any week; stops at the first)."""
    return con.execute(TEAM_SEEN_SQL, {"team": team}).fetchone() is not None


def all_teams(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [r[0] for r in con.execute(ALL_TEAMS_SQL).fetchall()]
