"""Overview numbers from usage_hourly: totals with the previous period, spend by state over
time, average daily spend per week, and allocated cost per team.

Definitions (USD, GPU-hours; window [start, end) UTC):
- spend = Σ cost_usd over every state; ``idle_unallocated`` = allocated-idle + unallocated USD.
- utilisation (``util_pct``) = Σ util_pct x GPU-hours / Σ GPU-hours over GPU-hours held by a
  workload with a util value (active + allocated idle), as the overview always showed.
- previous period: the window of the same length just before it (a 7-day window compares
  with the 7 days before: week over week).

One scan of usage_hourly grouped by hour (``HOURLY_SQL``, at most a few thousand rows)
feeds the totals, the series and the weekly bars; one more groups by team.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from gpucost.dashboard.data.common import WHERE_USAGE, Window, bind, period_bucket, resolve_window, run
from gpucost.dashboard.filters import Filters

STATES = ("active", "allocated_idle", "unallocated", "no_data")
# usage_hourly column prefix per state
STATE_PREFIX = {"active": "active", "allocated_idle": "idle", "unallocated": "unallocated",
                "no_data": "no_data"}

HOURLY_SQL = f"""
select
    hour,
    sum(steps)                                                        as gpu_usage_rows,
    sum(active_cost_usd)                                              as active_cost_usd,
    sum(idle_cost_usd)                                                as idle_cost_usd,
    sum(unallocated_cost_usd)                                         as unallocated_cost_usd,
    sum(no_data_cost_usd)                                             as no_data_cost_usd,
    sum(active_gpu_hours)                                             as active_gpu_hours,
    sum(idle_gpu_hours)                                               as idle_gpu_hours,
    sum(unallocated_gpu_hours)                                        as unallocated_gpu_hours,
    sum(no_data_gpu_hours)                                            as no_data_gpu_hours,
    coalesce(sum(active_gpu_hours + idle_gpu_hours) filter (where job is not null), 0)
                                                                      as allocated_gpu_hours,
    coalesce(sum(util_gpu_hours) filter (where job is not null), 0)   as held_util_gpu_hours,
    coalesce(sum(util_observed_gpu_hours) filter (where job is not null), 0)
                                                                      as held_util_observed_gpu_hours,
    max(last_ts)                                                      as last_ts
from usage_hourly
where {WHERE_USAGE}
group by hour
order by hour
"""

BY_TEAM_SQL = f"""
select
    team,
    count(distinct job)                         as jobs,
    sum(active_gpu_hours + idle_gpu_hours)      as gpu_hours,
    sum(active_cost_usd + idle_cost_usd)        as cost_usd,
    sum(idle_cost_usd)                          as idle_cost_usd,
    sum(active_cost_usd)                        as active_cost_usd
from usage_hourly
where {WHERE_USAGE} and job is not null
group by team
order by cost_usd desc, team
"""

TOTAL_COLUMNS = ["period", "gpu_usage_rows", "spend_usd", "gpu_hours", "active_usd", "allocated_idle_usd",
                 "unallocated_usd", "no_data_usd", "allocated_gpu_hours", "util_pct", "first_hour", "last_ts",
                 "idle_unallocated_usd", "idle_unallocated_share"]


def hourly(con: duckdb.DuckDBPyConnection, filters: Filters, start, end) -> pd.DataFrame:
    """One row per UTC hour in [start, end) with rows: the columns of HOURLY_SQL."""
    return run(con, HOURLY_SQL, bind(filters, start=start, end=end))


def _totals(h: pd.DataFrame, period: str) -> dict:
    spend = float(h[[f"{STATE_PREFIX[s]}_cost_usd" for s in STATES]].to_numpy().sum())
    idle, unallocated = float(h["idle_cost_usd"].sum()), float(h["unallocated_cost_usd"].sum())
    observed = float(h["held_util_observed_gpu_hours"].sum())
    return {
        "period": period, "gpu_usage_rows": int(h["gpu_usage_rows"].sum()), "spend_usd": spend,
        "gpu_hours": float(h[[f"{STATE_PREFIX[s]}_gpu_hours" for s in STATES]].to_numpy().sum()),
        "active_usd": float(h["active_cost_usd"].sum()), "allocated_idle_usd": idle,
        "unallocated_usd": unallocated, "no_data_usd": float(h["no_data_cost_usd"].sum()),
        "allocated_gpu_hours": float(h["allocated_gpu_hours"].sum()),
        "util_pct": float(h["held_util_gpu_hours"].sum()) / observed if observed > 0 else float("nan"),
        "first_hour": h["hour"].min(), "last_ts": h["last_ts"].max(),
        "idle_unallocated_usd": idle + unallocated,
        "idle_unallocated_share": (idle + unallocated) / spend if spend > 0 else float("nan"),
    }


def totals_from_hourly(h: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Rows 'current' (the window) and 'previous' (hours before it); a period without rows
    has no row. Columns: TOTAL_COLUMNS."""
    rows = []
    for period, part in (("current", h[h["hour"] >= window.start]), ("previous", h[h["hour"] < window.start])):
        if not part.empty:
            rows.append(_totals(part, period))
    return pd.DataFrame(rows, columns=TOTAL_COLUMNS)


def series_from_hourly(h: pd.DataFrame, bucket_hours: int) -> pd.DataFrame:
    """Long format per (bucket_start, state): ``cost_usd``, ``gpu_hours``, and ``gpus`` =
    GPU-hours / bucket hours (the mean number of GPUs in that state). Buckets are aligned to
    UTC midnight; buckets without rows are absent."""
    if h.empty:
        return pd.DataFrame(columns=["bucket_start", "state", "cost_usd", "gpu_hours", "gpus"])
    wide = h.assign(bucket_start=h["hour"].dt.floor(f"{bucket_hours}h")).groupby("bucket_start").sum(
        numeric_only=True)
    parts = [pd.DataFrame({"bucket_start": wide.index, "state": state,
                           "cost_usd": wide[f"{STATE_PREFIX[state]}_cost_usd"].to_numpy(float),
                           "gpu_hours": wide[f"{STATE_PREFIX[state]}_gpu_hours"].to_numpy(float)})
             for state in STATES]
    out = pd.concat(parts, ignore_index=True).sort_values(["bucket_start", "state"], ignore_index=True)
    out["gpus"] = out["gpu_hours"] / bucket_hours
    return out


def weekly_from_hourly(h: pd.DataFrame) -> pd.DataFrame:
    """Per ISO week (Monday 00:00 UTC): hours_with_data, spend_usd and its state parts
    (active_usd, allocated_idle_usd, unallocated_usd, no_data_usd), gpu_hours, util_pct;
    ``days_with_data`` = hours with data / 24, ``spend_usd_per_day`` = spend / days with
    data (so partial weeks compare with whole ones) and ``change`` = its relative change from
    the previous week (NaN for the first)."""
    columns = ["week_start", "hours_with_data", "spend_usd", "active_usd", "allocated_idle_usd",
               "unallocated_usd", "no_data_usd", "gpu_hours", "util_pct", "days_with_data",
               "spend_usd_per_day", "change"]
    if h.empty:
        return pd.DataFrame(columns=columns)
    week = h["hour"].dt.normalize() - pd.to_timedelta(h["hour"].dt.day_of_week, unit="D")
    g = h.assign(week_start=week).groupby("week_start")
    df = pd.DataFrame({
        "hours_with_data": g["hour"].count(),
        "active_usd": g["active_cost_usd"].sum(), "allocated_idle_usd": g["idle_cost_usd"].sum(),
        "unallocated_usd": g["unallocated_cost_usd"].sum(), "no_data_usd": g["no_data_cost_usd"].sum(),
        "gpu_hours": g[[f"{STATE_PREFIX[s]}_gpu_hours" for s in STATES]].sum().sum(axis=1),
        "util_gpu_hours": g["held_util_gpu_hours"].sum(), "observed": g["held_util_observed_gpu_hours"].sum(),
    }).reset_index()
    df["spend_usd"] = df[["active_usd", "allocated_idle_usd", "unallocated_usd", "no_data_usd"]].sum(axis=1)
    df["util_pct"] = df["util_gpu_hours"] / df["observed"].where(df["observed"] > 0)
    df["days_with_data"] = df["hours_with_data"] / 24.0
    df["spend_usd_per_day"] = df["spend_usd"] / df["days_with_data"].where(df["days_with_data"] > 0)
    df["change"] = df["spend_usd_per_day"].pct_change(fill_method=None)
    return df[columns]


def over_time(con: duckdb.DuckDBPyConnection, filters: Filters, window: Window,
              bucket_hours: int) -> pd.DataFrame:
    """``series_from_hourly`` of the window."""
    return series_from_hourly(hourly(con, filters, window.start, window.end), bucket_hours)


def by_team(con: duckdb.DuckDBPyConnection, filters: Filters, window: Window) -> pd.DataFrame:
    """Per team (the pod's team, else its namespace) over the window: jobs, gpu_hours, and
    ``cost_usd`` = active + allocated-idle USD (as job_costs), ``idle_cost_usd``,
    ``active_cost_usd``; most expensive first. Unallocated capacity is in no team."""
    return run(con, BY_TEAM_SQL, bind(filters, window))


@dataclass(frozen=True)
class OverviewData:
    window: Window
    totals: pd.DataFrame
    over_time: pd.DataFrame
    bucket: str
    weekly: pd.DataFrame
    by_team: pd.DataFrame

    def period(self, name: str) -> pd.Series | None:
        rows = self.totals[self.totals["period"] == name]
        return None if rows.empty else rows.iloc[0]

    @property
    def empty(self) -> bool:
        current = self.period("current")
        return current is None or int(current["gpu_usage_rows"]) == 0


def load(con: duckdb.DuckDBPyConnection, filters: Filters, with_teams: bool = True) -> OverviewData:
    """Everything the overview shows; ``with_teams=False`` skips the per-team query (the page
    reads it in a callback of its own, in parallel) and leaves ``by_team`` empty."""
    window = resolve_window(con, filters)
    bucket = period_bucket(window)
    h = hourly(con, filters, window.start - (window.end - window.start), window.end)
    current = h[h["hour"] >= window.start]
    return OverviewData(
        window=window,
        totals=totals_from_hourly(h, window),
        over_time=series_from_hourly(current, 1 if bucket == "hour" else 24),
        bucket=bucket,
        weekly=weekly_from_hourly(current),
        by_team=by_team(con, filters, window) if with_teams else pd.DataFrame(
            columns=["team", "jobs", "gpu_hours", "cost_usd", "idle_cost_usd", "active_cost_usd"]),
    )

