"""Prices page data: spot and on-demand price history (raw_prices), the on-demand reference
per instance type, and which price source priced the fleet (asset_costs).

Prices are USD per instance-hour. A price holds from effective_at until the next one, so the
history includes, per series, the last price published before the window (shown from the
window start). On-demand reference: the last on-demand price in raw_prices before the
window end (AWS Pricing API), else the packaged catalog's us-east-1 list price.
Instance types in scope: those of the GPU devices matching the cluster and GPU-model filters
(team and namespace filters do not apply to prices).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from gpucost.dashboard.data.common import Window, run
from gpucost.ingest.catalog import catalog

TYPES_SQL = """
select instance_type, any_value(gpu_model) as gpu_model, count(distinct node) as nodes
from gpu_usage_devices
where instance_type is not null
  and (len($clusters::varchar[]) = 0 or list_contains($clusters::varchar[], cluster))
  and (len($gpu_models::varchar[]) = 0 or list_contains($gpu_models::varchar[], gpu_model))
group by instance_type
order by instance_type
"""

HISTORY_SQL = """
with prices as (
    select distinct on (kind, region, zone, instance_type, effective_at)
        kind, region, coalesce(zone, '') as zone, instance_type, effective_at, usd_per_hour
    from raw_prices
    where list_contains($types::varchar[], instance_type) and effective_at < $end
    order by kind, region, zone, instance_type, effective_at, source
),
ranked as (
    select *,
           max(effective_at) filter (where effective_at <= $start)
               over (partition by kind, region, zone, instance_type) as carried_from
    from prices
)
select kind, region, zone, instance_type, greatest(effective_at, $start) as effective_at, usd_per_hour
from ranked
where effective_at > $start or effective_at = carried_from
order by instance_type, kind, region, zone, effective_at
"""

ON_DEMAND_SQL = """
select instance_type, region, arg_max(usd_per_hour, effective_at) as usd_per_hour
from raw_prices
where kind = 'on_demand' and list_contains($types::varchar[], instance_type) and effective_at < $end
group by all
"""

SOURCE_MIX_SQL = """
select
    window_start                         as day,
    price_source,
    capacity_type,
    sum(hours)                           as node_hours,
    sum(cost_usd)                        as cost_usd,
    sum(gpu_cost_usd)                    as gpu_cost_usd
from asset_costs
where window_start >= $start and window_start < $end
  and (len($clusters::varchar[]) = 0 or list_contains($clusters::varchar[], cluster))
  and list_contains($types::varchar[], instance_type)
group by all
order by day, price_source, capacity_type
"""

EFFECTIVE_SQL = """
select
    instance_type,
    capacity_type,
    sum(hours)                                    as node_hours,
    sum(cost_usd) / nullif(sum(hours), 0)         as usd_per_hour,
    sum(cost_usd)                                 as cost_usd
from asset_costs
where window_start >= $start and window_start < $end
  and (len($clusters::varchar[]) = 0 or list_contains($clusters::varchar[], cluster))
  and list_contains($types::varchar[], instance_type)
group by all
order by instance_type, capacity_type
"""


def empty_history() -> pd.DataFrame:
    return pd.DataFrame(columns=["kind", "region", "zone", "instance_type", "effective_at", "usd_per_hour"])


def empty_on_demand() -> pd.DataFrame:
    return pd.DataFrame(columns=["instance_type", "usd_per_hour", "source"])


def instance_types(con: duckdb.DuckDBPyConnection, filters) -> pd.DataFrame:
    """instance_type, gpu_model, nodes — the fleet's types matching cluster/GPU-model filters."""
    return run(con, TYPES_SQL, {"clusters": list(filters.clusters),
                                   "gpu_models": list(filters.gpu_models)})


def history(con: duckdb.DuckDBPyConnection, types: list[str], window: Window) -> pd.DataFrame:
    """kind ('spot' | 'on_demand'), region, zone ('' when none), instance_type,
    effective_at (clipped to the window start), usd_per_hour; in time order per series."""
    return run(con, HISTORY_SQL, {"types": types, **window.params()})


def on_demand_reference(con: duckdb.DuckDBPyConnection, types: list[str], window: Window) -> pd.DataFrame:
    """instance_type, usd_per_hour, source ('pricing_api' or 'catalog_list'); one row per
    type that has a price (the mean over regions when the Pricing API gave several)."""
    api = run(con, ON_DEMAND_SQL, {"types": types, "end": window.end})
    rows = []
    for t in types:
        found = api[api["instance_type"] == t]
        if not found.empty:
            rows.append({"instance_type": t, "usd_per_hour": float(found["usd_per_hour"].mean()),
                         "source": "pricing_api"})
        elif (item := catalog().get(t)) is not None and item.usd_per_hour is not None:
            rows.append({"instance_type": t, "usd_per_hour": item.usd_per_hour, "source": "catalog_list"})
    return pd.DataFrame(rows, columns=empty_on_demand().columns)


def source_mix(con: duckdb.DuckDBPyConnection, filters, types: list[str], window: Window) -> pd.DataFrame:
    """Per (day, price_source, capacity_type): node_hours, cost_usd (whole nodes), gpu_cost_usd."""
    return run(con, SOURCE_MIX_SQL, {"types": types, "clusters": list(filters.clusters),
                                        **window.params()})


def effective_prices(con: duckdb.DuckDBPyConnection, filters, types: list[str], window: Window) -> pd.DataFrame:
    """Per (instance_type, capacity_type) actually run: node_hours, usd_per_hour paid on
    average (cost / hours), cost_usd."""
    return run(con, EFFECTIVE_SQL, {"types": types, "clusters": list(filters.clusters),
                                       **window.params()})
