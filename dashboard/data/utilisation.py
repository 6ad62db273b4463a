"""Utilisation page data: the GPU (or node) x time heatmap, GPUs per state over time, the
device list and one device's DCGM series.

util % of a cell = Σ util_pct x GPU-hours / Σ GPU-hours over steps with a util value (held
or not: an unallocated GPU counts with its own activity, usually 0); a cell whose steps all
lack telemetry is NaN. ``no_data_share`` = no-data GPU-hours / GPU-hours of the cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from gpucost.dashboard.data.common import WHERE_USAGE, Window, bind, bucket_hours_for, run

MAX_HEATMAP_ROWS = 96          # rows shown; beyond, the least utilised are kept
STEP_SERIES_MAX_HOURS = 48     # drill-down at step resolution up to this window, hourly above

DEVICES_SQL = f"""
select
    cluster,
    device_id,
    any_value(node)                                           as node,
    any_value(gpu_index)                                      as gpu_index,
    any_value(mig_profile)                                    as mig_profile,
    any_value(gpu_model)                                      as gpu_model,
    sum(util_gpu_hours) / nullif(sum(util_observed_gpu_hours), 0) as util_pct,
    sum(util_gpu_hours)                                       as util_gpu_hours,
    sum(util_observed_gpu_hours)                              as util_observed_gpu_hours,
    sum(gpu_hours)                                            as gpu_hours,
    sum(idle_cost_usd)                                        as idle_cost_usd
from usage_hourly
where {WHERE_USAGE}
group by cluster, device_id
order by cluster, node, gpu_index, device_id
"""

# The cells of the rows shown: the rows' devices (or nodes) come as lists, so the scan skips
# the rest; (cluster, key) pairs are matched exactly afterwards. Two texts from one template
# (column names only; values stay bind parameters).
_CELLS_TEMPLATE = f"""
select
    cluster,
    {{key}}                                                              as key,
    time_bucket(to_hours($bucket_hours::bigint), hour)                   as bucket_start,
    sum(util_gpu_hours) / nullif(sum(util_observed_gpu_hours), 0)        as util_pct,
    sum(no_data_gpu_hours) / nullif(sum(gpu_hours), 0)                   as no_data_share
from usage_hourly
where {WHERE_USAGE} and list_contains($keys::varchar[], {{key}})
group by all
"""
CELLS_SQL = {"gpu": _CELLS_TEMPLATE.format(key="device_id"), "node": _CELLS_TEMPLATE.format(key="node")}

STEP_SERIES_SQL = """
select
    ts,
    state::varchar                  as state,
    util_pct,
    mem_used_bytes::double          as mem_used_bytes,
    mem_used_bytes::double          as mem_used_max_bytes,
    mem_total_bytes::double         as mem_total_bytes,
    power_w,
    power_w                         as power_max_w
from gpu_usage_steps
where device_key in (select device_key from gpu_usage_devices
                     where cluster = $cluster and device_id = $device_id)
  and ts >= $start and ts < $end
order by ts
"""

HOURLY_SERIES_SQL = """
select
    hour                                                     as ts,
    arg_max(case when active_gpu_hours > 0 then 'active'
                 when idle_gpu_hours > 0 then 'allocated_idle'
                 when unallocated_gpu_hours > 0 then 'unallocated'
                 else 'no_data' end, gpu_hours)              as state,
    sum(util_gpu_hours) / nullif(sum(util_observed_gpu_hours), 0) as util_pct,
    sum(mem_used_byte_hours) / nullif(sum(mem_observed_gpu_hours), 0) as mem_used_bytes,
    max(mem_used_max_bytes)::double                          as mem_used_max_bytes,
    max(mem_total_bytes)::double                             as mem_total_bytes,
    sum(power_w_hours) / nullif(sum(power_observed_gpu_hours), 0) as power_w,
    max(power_max_w)                                         as power_max_w
from usage_hourly
where cluster = $cluster and device_id = $device_id and hour >= $start and hour < $end
group by hour
order by hour
"""


def devices(con: duckdb.DuckDBPyConnection, filters, window: Window) -> pd.DataFrame:
    """One row per GPU device (cluster, device_id) with rows in the window: cluster,
    device_id, node, gpu_index, mig_profile, gpu_model, util_pct, gpu_hours, idle_cost_usd
    (allocated-idle USD)."""
    return run(con, DEVICES_SQL, bind(filters, window))


@dataclass(frozen=True)
class Heatmap:
    cells: pd.DataFrame      # row_key, cluster, node, gpu_index, device_id, mig_profile,
                             # devices, row_util_pct, bucket_start, util_pct, no_data_share
    level: str               # 'gpu' or 'node'
    bucket_hours: int
    total_rows: int          # rows (GPUs or nodes) in the filter; at most MAX_HEATMAP_ROWS shown


def heatmap(con: duckdb.DuckDBPyConnection, filters, window: Window, devices: pd.DataFrame,
            max_rows: int = MAX_HEATMAP_ROWS) -> Heatmap:
    """Rows are GPUs when at most ``max_rows`` devices match, else nodes (mean over their
    GPUs); when more rows match, the ``max_rows`` least utilised are kept (rows without
    telemetry first). ``devices``: ``devices()`` of the same filters and window."""
    level = "gpu" if len(devices) <= max_rows else "node"
    bucket_hours = bucket_hours_for(window)
    columns = ["row_key", "cluster", "node", "gpu_index", "device_id", "mig_profile", "devices", "row_util_pct",
               "bucket_start", "util_pct", "no_data_share"]
    if devices.empty:
        return Heatmap(pd.DataFrame(columns=columns), level, bucket_hours, 0)
    key = "device_id" if level == "gpu" else "node"
    rows = (devices.groupby(["cluster", key], as_index=False, sort=False)
            .agg(node=("node", "first"), gpu_index=("gpu_index", "min"), device_id=("device_id", "first"),
                 mig_profile=("mig_profile", "first"), devices=("device_id", "nunique"),
                 util_gpu_hours=("util_gpu_hours", "sum"), observed=("util_observed_gpu_hours", "sum"))
            if level == "node" else
            devices.assign(devices=1, observed=devices["util_observed_gpu_hours"]))
    rows["row_util_pct"] = rows["util_gpu_hours"] / rows["observed"].where(rows["observed"] > 0)
    rows["key"] = rows[key]
    rows["row_key"] = rows["cluster"] + "/" + rows["key"]
    total = len(rows)
    shown = rows.sort_values(["row_util_pct", "row_key"], na_position="first").head(max_rows)
    cells = run(con, CELLS_SQL[level], bind(filters, window, bucket_hours=bucket_hours,
                                            keys=sorted(set(shown["key"]))))
    cells = cells.merge(shown[["cluster", "key", "row_key", "node", "gpu_index", "device_id", "mig_profile",
                               "devices", "row_util_pct"]], on=["cluster", "key"], how="inner")
    cells = cells.sort_values(["cluster", "node", "gpu_index", "device_id", "bucket_start"], ignore_index=True)
    return Heatmap(cells[columns], level, bucket_hours, total)


SERIES_COLUMNS = ["ts", "state", "util_pct", "mem_used_bytes", "mem_used_max_bytes", "mem_total_bytes",
                  "power_w", "power_max_w"]


def empty_series() -> pd.DataFrame:
    return pd.DataFrame(columns=SERIES_COLUMNS)


def device_series(con: duckdb.DuckDBPyConnection, cluster: str, device_id: str,
                  window: Window) -> tuple[pd.DataFrame, str]:
    """One device's DCGM series over the window, and its resolution ('step' or 'hour').

    The device is (cluster, device_id): the GPU UUID, or '<UUID>/<GPU instance>' for a MIG
    instance. Columns: ts, state, util_pct (%), mem_used_bytes (mean), mem_used_max_bytes,
    mem_total_bytes, power_w (mean W), power_max_w. Step resolution (gpu_usage_steps, one
    device over at most 48 h) or hourly means and maxima from usage_hourly above that.
    """
    resolution = "step" if window.hours <= STEP_SERIES_MAX_HOURS else "hour"
    sql = STEP_SERIES_SQL if resolution == "step" else HOURLY_SERIES_SQL
    return run(con, sql, {"cluster": cluster, "device_id": device_id, **window.params()}), resolution
