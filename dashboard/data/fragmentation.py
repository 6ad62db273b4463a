"""Fragmentation page data, from ``fragmentation_hourly`` (the hourly rollup of the public
``fragmentation`` table; see sql/models/fragmentation.sql for the definitions).

GPU counts are means over the window's steps of the fleet's sum (GPU-hours / hours), so
they compare with the GPU counts of the other pages. ``frag_gpus`` is the FGD measure
summed over nodes, in GPU equivalents (milli-GPUs / 1000). Money is the GPU cost of the
free (or stranded) capacity over the window, USD. Cluster and GPU-model filters apply;
team and namespace filters do not (free capacity belongs to no team).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from gpucost.dashboard.data.common import Window, bind, bucket_hours_for, resolve_window, run
from gpucost.dashboard.filters import Filters

WHERE = """
    hour >= $start and hour < $end
    and (len($clusters::varchar[]) = 0 or list_contains($clusters::varchar[], cluster))
    and (len($gpu_models::varchar[]) = 0 or list_contains($gpu_models::varchar[], gpu_model))
"""

# per hour: fleet sums over the nodes, and the hour's steps (the clock: the most any cluster had)
PER_HOUR = f"""
select
    hour,
    max(hour_steps)                      as steps,
    sum(gpu_count * steps)               as gpu_steps,
    sum(free_gpus)                       as free_gpus,
    sum(stranded_gpus)                   as stranded_gpus,
    sum(frag_gpu_milli) / 1000           as frag_gpus,
    sum(free_cost_usd)                   as free_cost_usd,
    sum(stranded_cost_usd)               as stranded_cost_usd
from fragmentation_hourly
where {WHERE}
group by hour
"""

TOTALS_SQL = f"""
select
    coalesce(sum(steps), 0)              as steps,
    sum(gpu_steps) / sum(steps)          as gpus,
    sum(free_gpus) / sum(steps)          as free_gpus,
    sum(stranded_gpus) / sum(steps)      as stranded_gpus,
    sum(frag_gpus) / sum(steps)          as frag_gpus,
    sum(free_cost_usd)                   as free_cost_usd,
    sum(stranded_cost_usd)               as stranded_cost_usd
from ({PER_HOUR})
"""

SERIES_SQL = f"""
select
    time_bucket(to_hours($bucket_hours::integer), hour, $start::timestamp) as bucket_start,
    sum(free_gpus) / sum(steps)          as free_gpus,
    sum(stranded_gpus) / sum(steps)      as stranded_gpus,
    sum(frag_gpus) / sum(steps)          as frag_gpus
from ({PER_HOUR})
group by bucket_start
order by bucket_start
"""

# Nodes with free capacity in the window, most stranded cost first. Means are over the
# node's steps in the window.
NODES_SQL = f"""
select
    cluster,
    node,
    any_value(instance_type)                         as instance_type,
    any_value(capacity_type)                         as capacity_type,
    any_value(gpu_model)                             as gpu_model,
    max(gpu_count)                                   as gpu_count,
    sum(free_gpus) / sum(steps)                      as free_gpus,
    sum(stranded_gpus) / sum(steps)                  as stranded_gpus,
    sum(frag_gpu_milli) / sum(steps) / 1000          as frag_gpus,
    sum(largest_free_block) / sum(steps)             as largest_free_block,
    sum(nvlink_free_block) / sum(steps)              as nvlink_free_block,
    mode(stranded_reason)                            as stranded_reason,
    sum(free_cost_usd)                               as free_cost_usd,
    sum(stranded_cost_usd)                           as stranded_cost_usd
from fragmentation_hourly
where {WHERE}
group by cluster, node
having sum(free_gpus) > 0
order by stranded_cost_usd desc, free_cost_usd desc, cluster, node
limit $limit
"""


@dataclass(frozen=True)
class FragmentationView:
    window: Window
    totals: pd.Series          # steps, gpus, free_gpus, stranded_gpus, frag_gpus (means), *_cost_usd
    series: pd.DataFrame       # bucket_start, free_gpus, stranded_gpus, frag_gpus
    bucket_hours: int
    nodes: pd.DataFrame        # NODES_SQL columns

    @property
    def empty(self) -> bool:
        return self.window.empty or not self.totals["steps"]


def load(con: duckdb.DuckDBPyConnection, filters: Filters, max_nodes: int = 200) -> FragmentationView:
    window = resolve_window(con, filters)
    if window.empty:
        blank = pd.Series({"steps": 0})
        return FragmentationView(window, blank, pd.DataFrame(), 1, pd.DataFrame())
    bucket = bucket_hours_for(window)
    params = bind(filters, window, bucket_hours=bucket, limit=max_nodes)
    return FragmentationView(window, run(con, TOTALS_SQL, params).iloc[0], run(con, SERIES_SQL, params), bucket,
                             run(con, NODES_SQL, params))
