"""Jobs page data: one row per job over the window's UTC days, from int_job_daily.

Same formulas as job_costs, restricted to the days in the window and the filters:
cost_usd = active + allocated-idle USD; idle_cost_usd = the allocated-idle part;
no_data_cost_usd = held without telemetry (not in cost_usd); util_avg_pct (efficiency) =
GPU-hour-weighted mean activity over observed steps; mem_peak_bytes = max memory used by one
device; gpu_model = the model with the most held GPU-hours (ties: alphabetical);
last_seen_at = end of the last step held. A GPU-model filter keeps the job's usage of those
models only. Team = the job's team, else its namespace.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from gpucost.dashboard.data.common import Window, bind, run

JOBS_SQL = """
with daily as (
    select *, coalesce(team, namespace) as team_or_ns
    from int_job_daily
    where day >= $start and day < $end
      and (len($clusters::varchar[]) = 0 or list_contains($clusters::varchar[], cluster))
      and (len($teams::varchar[]) = 0 or list_contains($teams::varchar[], coalesce(team, namespace)))
      and (len($namespaces::varchar[]) = 0 or list_contains($namespaces::varchar[], namespace))
      and (len($gpu_models::varchar[]) = 0 or list_contains($gpu_models::varchar[], gpu_model))
),
models as (
    select cluster, namespace, job, gpu_model, sum(gpu_hours + no_data_gpu_hours) as held_hours
    from daily
    group by all
),
top_model as (
    select cluster, namespace, job, first(gpu_model order by held_hours desc, gpu_model) as gpu_model
    from models
    group by all
),
totals as (
    select
        cluster,
        namespace,
        job,
        min(team_or_ns)                                        as team,
        min(first_ts)                                          as first_seen_at,
        max(last_ts) + to_seconds($step_seconds)               as last_seen_at,
        max(gpus_max)::double                                  as gpus_max,
        sum(gpu_hours)::double                                 as gpu_hours,
        sum(active_gpu_hours)::double                          as active_gpu_hours,
        sum(idle_gpu_hours)::double                            as idle_gpu_hours,
        sum(no_data_gpu_hours)::double                         as no_data_gpu_hours,
        (sum(util_gpu_hours) / nullif(sum(gpu_hours), 0))::double as util_avg_pct,
        max(mem_peak_bytes)                                    as mem_peak_bytes,
        sum(cost_usd)::double                                  as cost_usd,
        sum(idle_cost_usd)::double                             as idle_cost_usd,
        sum(no_data_cost_usd)::double                          as no_data_cost_usd
    from daily
    group by all
)
select
    t.job, t.namespace, t.team, t.cluster, m.gpu_model, t.first_seen_at, t.last_seen_at,
    t.gpus_max, t.gpu_hours, t.active_gpu_hours, t.idle_gpu_hours, t.no_data_gpu_hours,
    t.util_avg_pct, t.mem_peak_bytes, t.cost_usd, t.idle_cost_usd, t.no_data_cost_usd,
    t.idle_cost_usd / nullif(t.cost_usd, 0) as idle_share
from totals as t
join top_model as m using (cluster, namespace, job)
order by t.cost_usd desc, t.cluster, t.namespace, t.job
"""


def jobs(con: duckdb.DuckDBPyConnection, filters, window: Window, step_seconds: int) -> pd.DataFrame:
    """Columns: job, namespace, team, cluster, gpu_model, first_seen_at, last_seen_at,
    gpus_max, gpu_hours, active_gpu_hours, idle_gpu_hours, no_data_gpu_hours, util_avg_pct,
    mem_peak_bytes, cost_usd, idle_cost_usd, no_data_cost_usd, idle_share (0..1); most
    expensive first. The window is widened to whole UTC days (int_job_daily's grain)."""
    start = window.start.replace(hour=0, minute=0, second=0, microsecond=0)
    return run(con, JOBS_SQL, bind(filters, step_seconds=step_seconds, start=start,
                                      end=window.end))
