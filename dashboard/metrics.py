"""``GET /metrics``: headline gauges in the Prometheus text format (version 0.0.4).

Per cluster, for its latest complete UTC hour in usage_hourly (the last hour whose final
step is rolled up; when the newest hour is still filling, the one before it):

    gpucost_gpus{cluster, state}                   mean GPUs in each state during the hour
    gpucost_cost_usd_per_hour{cluster}             GPU spend in the hour (USD)
    gpucost_idle_cost_usd_per_hour{cluster}        allocated-idle spend (USD)
    gpucost_unallocated_cost_usd_per_hour{cluster} unallocated spend (USD)
    gpucost_no_data_cost_usd_per_hour{cluster}     spend on GPUs without telemetry (USD)
    gpucost_no_data_share{cluster}                 no-data GPU-hours / GPU-hours (0..1)
    gpucost_allocated_util_pct{cluster}            util of GPUs held by workloads (%)
    gpucost_hour_start_timestamp_seconds{cluster}  start of that hour (Unix time); alert on
                                                   time() - this > 7200 for stale data
    gpucost_warehouse_up                           1 when the warehouse could be read, else 0

    gpucost_free_gpus{cluster}                     mean free GPUs (nothing holds them) on GPU nodes
    gpucost_stranded_gpus{cluster}                 mean free GPUs no common request shape fits
    gpucost_fragmentation_gpus{cluster}            mean FGD fragmentation, GPU equivalents
    gpucost_stranded_cost_usd_per_hour{cluster}    GPU cost of the stranded capacity (USD)

GPU-hours in one hour are mean GPUs, so ``gpucost_gpus`` needs no rate(). The last four come
from the fragmentation table (NaN when it has no row for the hour).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pandas as pd

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATEST_HOURS_SQL = """
with last as (
    select cluster, max(hour) as hour from usage_hourly group by cluster
)
select l.cluster, l.hour, max(u.last_ts) as last_ts
from last as l
join usage_hourly as u on u.cluster = l.cluster and u.hour = l.hour
group by all
order by l.cluster
"""

HOUR_SQL = """
select
    cluster,
    sum(active_gpu_hours)        as active_gpus,
    sum(idle_gpu_hours)          as allocated_idle_gpus,
    sum(unallocated_gpu_hours)   as unallocated_gpus,
    sum(no_data_gpu_hours)       as no_data_gpus,
    sum(gpu_hours)               as gpu_hours,
    sum(cost_usd)                as cost_usd,
    sum(idle_cost_usd)           as idle_cost_usd,
    sum(unallocated_cost_usd)    as unallocated_cost_usd,
    sum(no_data_cost_usd)        as no_data_cost_usd,
    sum(util_gpu_hours) filter (where job is not null)
        / nullif(sum(util_observed_gpu_hours) filter (where job is not null), 0) as util_pct
from usage_hourly
where cluster = $cluster and hour = $hour
group by cluster
"""

FRAGMENTATION_HOUR_SQL = """
select
    avg(free_gpus) as free_gpus, avg(stranded_gpus) as stranded_gpus, avg(frag_gpus) as frag_gpus,
    sum(stranded_cost_usd) as stranded_cost_usd
from (
    select ts, sum(free_gpus) as free_gpus, sum(stranded_gpus) as stranded_gpus,
           sum(frag_gpu_milli) / 1000 as frag_gpus, sum(stranded_cost_usd) as stranded_cost_usd
    from fragmentation
    where cluster = $cluster and ts >= $hour and ts < $hour + interval 1 hour
    group by ts
)
"""


@dataclass(frozen=True)
class ClusterHour:
    cluster: str
    hour: datetime
    values: pd.Series


def latest_complete_hours(con: duckdb.DuckDBPyConnection, step_seconds: int) -> list[ClusterHour]:
    """Each cluster's latest complete hour and its sums (see the module docstring)."""
    out = []
    for cluster, hour, last_ts in con.execute(LATEST_HOURS_SQL).fetchall():
        if last_ts + timedelta(seconds=step_seconds) < hour + timedelta(hours=1):
            hour = hour - timedelta(hours=1)
        row = con.execute(HOUR_SQL, {"cluster": cluster, "hour": hour}).df()
        if not row.empty:
            frag = con.execute(FRAGMENTATION_HOUR_SQL, {"cluster": cluster, "hour": hour}).df()
            out.append(ClusterHour(cluster, hour, pd.concat([row.iloc[0], frag.iloc[0]])))
    return out


def _label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "NaN"
    return repr(float(value))


GAUGES = (
    ("gpucost_cost_usd_per_hour", "GPU spend in the latest complete hour, USD.", "cost_usd"),
    ("gpucost_idle_cost_usd_per_hour", "Allocated-idle GPU spend in the latest complete hour, USD.",
     "idle_cost_usd"),
    ("gpucost_unallocated_cost_usd_per_hour", "Unallocated GPU spend in the latest complete hour, USD.",
     "unallocated_cost_usd"),
    ("gpucost_no_data_cost_usd_per_hour", "Spend on GPUs without telemetry in the latest complete hour, USD.",
     "no_data_cost_usd"),
    ("gpucost_allocated_util_pct", "Utilisation of GPUs held by workloads in the latest complete hour, percent.",
     "util_pct"),
    ("gpucost_free_gpus", "Mean free GPUs on GPU nodes in the latest complete hour.", "free_gpus"),
    ("gpucost_stranded_gpus", "Mean free GPUs that no common request shape fits in the latest complete hour.",
     "stranded_gpus"),
    ("gpucost_fragmentation_gpus", "Mean FGD fragmentation in the latest complete hour, GPU equivalents.",
     "frag_gpus"),
    ("gpucost_stranded_cost_usd_per_hour", "GPU cost of stranded capacity in the latest complete hour, USD.",
     "stranded_cost_usd"),
)
STATE_COLUMNS = (("active", "active_gpus"), ("allocated_idle", "allocated_idle_gpus"),
                 ("unallocated", "unallocated_gpus"), ("no_data", "no_data_gpus"))


def render(hours: list[ClusterHour], up: bool, error: str | None = None) -> str:
    """The exposition text for ``hours`` (pure)."""
    lines = ["# HELP gpucost_warehouse_up 1 when the warehouse snapshot could be read.",
             "# TYPE gpucost_warehouse_up gauge", f"gpucost_warehouse_up {1 if up else 0}"]
    if error:
        lines.insert(0, "# " + error.replace("\n", " ")[:300])
    if hours:
        lines += ["# HELP gpucost_gpus Mean GPUs in each state during the latest complete hour.",
                  "# TYPE gpucost_gpus gauge"]
        for h in hours:
            for state, column in STATE_COLUMNS:
                lines.append(f'gpucost_gpus{{cluster="{_label(h.cluster)}",state="{state}"}} '
                             f"{_number(h.values[column])}")
        for name, help_text, column in GAUGES:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines += [f'{name}{{cluster="{_label(h.cluster)}"}} {_number(h.values[column])}' for h in hours]
        lines += ["# HELP gpucost_no_data_share Share of GPU-hours without telemetry in the latest complete hour.",
                  "# TYPE gpucost_no_data_share gauge"]
        for h in hours:
            total = float(h.values["gpu_hours"])
            share = float(h.values["no_data_gpus"]) / total if total > 0 else float("nan")
            lines.append(f'gpucost_no_data_share{{cluster="{_label(h.cluster)}"}} {_number(share)}')
        lines += ["# HELP gpucost_hour_start_timestamp_seconds Start of the hour the gauges describe, Unix time.",
                  "# TYPE gpucost_hour_start_timestamp_seconds gauge"]
        for h in hours:
            epoch = (h.hour - datetime(1970, 1, 1)).total_seconds()
            lines.append(f'gpucost_hour_start_timestamp_seconds{{cluster="{_label(h.cluster)}"}} {_number(epoch)}')
    return "\n".join(lines) + "\n"
