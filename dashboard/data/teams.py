"""Teams page data: each team's allocated GPU cost per UTC day, and each day's idle pool.

allocated_usd of a team = active + allocated-idle + held-without-telemetry USD of the GPUs
its workloads held (team = the pod's team, else its namespace). The idle pool of a day =
unallocated USD + no-data USD of GPUs nobody held. Pool and ``allocated_all_usd`` (every
team's allocated USD that day) ignore the team/namespace filters, so a team's share of the
pool does not depend on which other teams are shown. ``gpucost.dashboard.chargeback`` turns
these into charges under an idle policy.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from gpucost.dashboard.data.common import WHERE_USAGE, WHERE_USAGE_ALL_HOLDERS, Window, bind, run

TEAM_DAILY_SQL = f"""
select
    date_trunc('day', hour)                                   as day,
    team,
    count(distinct job)                                       as jobs,
    sum(active_cost_usd)                                      as active_usd,
    sum(idle_cost_usd)                                        as idle_usd,
    sum(no_data_cost_usd)                                     as held_no_data_usd,
    sum(active_gpu_hours + idle_gpu_hours + no_data_gpu_hours) as gpu_hours,
    sum(util_gpu_hours)                                       as util_gpu_hours,
    sum(util_observed_gpu_hours)                              as util_observed_gpu_hours
from usage_hourly
where {WHERE_USAGE} and job is not null
group by all
order by day, team
"""

POOL_DAILY_SQL = f"""
select
    date_trunc('day', hour)                                            as day,
    coalesce(sum(unallocated_cost_usd), 0)                             as unallocated_usd,
    coalesce(sum(no_data_cost_usd) filter (where job is null), 0)      as unheld_no_data_usd,
    coalesce(sum(active_cost_usd + idle_cost_usd + no_data_cost_usd)
             filter (where job is not null), 0)                        as allocated_all_usd
from usage_hourly
where {WHERE_USAGE_ALL_HOLDERS}
group by all
order by day
"""


def team_daily(con: duckdb.DuckDBPyConnection, filters, window: Window) -> pd.DataFrame:
    """Per (day, team): jobs, active_usd, idle_usd (allocated idle), held_no_data_usd,
    gpu_hours (held), util_gpu_hours and util_observed_gpu_hours (for a weighted util %)."""
    return run(con, TEAM_DAILY_SQL, bind(filters, window))


def pool_daily(con: duckdb.DuckDBPyConnection, filters, window: Window) -> pd.DataFrame:
    """Per day: unallocated_usd, unheld_no_data_usd (the idle pool) and allocated_all_usd."""
    return run(con, POOL_DAILY_SQL, bind(filters, window))
