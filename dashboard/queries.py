"""Read-only queries behind the dashboard pages, returning pandas frames.

Every function takes an open DuckDB connection (from ``open_warehouse(settings,
read_only=True)``) and optional window bounds ``start``/``end`` (UTC, half-open
``[start, end)`` on ``gpu_usage.ts``; None means unbounded). Values are bind parameters
only. ``load_overview`` opens the warehouse once and runs what the overview page needs.

Precondition: the public marts ``gpu_usage`` and ``job_costs`` exist (schema >= 1);
they may be empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pandas as pd

from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse

# Above this span the over-time chart is bucketed by day, at or below it by hour:
# 3 days of hours is 72 bars, a week of hours (168) is too thin to read.
HOURLY_MAX_SPAN = timedelta(days=3)

_WINDOW = """
    ($start::timestamp is null or ts >= $start::timestamp)
    and ($end::timestamp is null or ts < $end::timestamp)
"""

HEADLINE_SQL = f"""
with usage as (
    select * from gpu_usage where {_WINDOW}
),
totals as (
    select
        count(*)                                          as gpu_usage_rows,
        coalesce(sum(cost_usd), 0)                        as spend_usd,
        coalesce(sum(gpu_hours), 0)                       as gpu_hours,
        sum(util_pct * gpu_hours) filter (where state in ('active', 'allocated_idle')
                                            and util_pct is not null)
          / nullif(sum(gpu_hours) filter (where state in ('active', 'allocated_idle')
                                            and util_pct is not null), 0)
                                                          as util_pct,
        coalesce(sum(cost_usd) filter (where state = 'active'), 0)          as active_usd,
        coalesce(sum(cost_usd) filter (where state = 'allocated_idle'), 0)  as allocated_idle_usd,
        coalesce(sum(cost_usd) filter (where state = 'unallocated'), 0)     as unallocated_usd,
        coalesce(sum(cost_usd) filter (where state = 'no_data'), 0)         as no_data_usd,
        min(ts)                                           as first_ts,
        max(ts)                                           as last_ts
    from usage
),
final as (
    select
        *,
        allocated_idle_usd + unallocated_usd                       as idle_unallocated_usd,
        (allocated_idle_usd + unallocated_usd) / nullif(spend_usd, 0) as idle_unallocated_share
    from totals
)
select * from final
"""

COST_BY_STATE_SQL = f"""
with states as (
    select * from (values ('active', 1), ('allocated_idle', 2), ('unallocated', 3), ('no_data', 4))
        as s(state, state_order)
),
usage as (
    select state, cost_usd, gpu_hours from gpu_usage where {_WINDOW}
),
by_state as (
    select state, sum(cost_usd) as cost_usd, sum(gpu_hours) as gpu_hours
    from usage group by state
),
final as (
    select
        coalesce(s.state, b.state)                       as state,
        coalesce(b.cost_usd, 0)                          as cost_usd,
        coalesce(b.gpu_hours, 0)                         as gpu_hours,
        coalesce(b.cost_usd, 0) / nullif(sum(b.cost_usd) over (), 0) as share,
        coalesce(s.state_order, 99)                      as state_order
    from states s full outer join by_state b using (state)
)
select state, cost_usd, gpu_hours, share from final order by state_order, state
"""

COST_BY_STATE_OVER_TIME_SQL = f"""
with usage as (
    select ts, state, cost_usd, gpu_hours from gpu_usage where {_WINDOW}
),
final as (
    select
        date_trunc($bucket, ts)  as bucket_start,
        state,
        sum(cost_usd)            as cost_usd,
        sum(gpu_hours)           as gpu_hours
    from usage
    group by all
)
select * from final order by bucket_start, state
"""

COST_BY_TEAM_SQL = """
with jobs as (
    select coalesce(team, namespace) as team, job, gpu_hours, cost_usd, idle_cost_usd
    from job_costs
),
final as (
    select
        team,
        count(*)                                 as jobs,
        sum(gpu_hours)                           as gpu_hours,
        sum(cost_usd)                            as cost_usd,
        sum(idle_cost_usd)                       as idle_cost_usd,
        sum(cost_usd) - sum(idle_cost_usd)       as active_cost_usd
    from jobs
    group by team
)
select * from final order by cost_usd desc, team
"""

DATA_WINDOW_SQL = """
select min(ts) as first_ts, max(ts) as last_ts, count(*) as gpu_usage_rows from gpu_usage
"""


def _window(start: datetime | None, end: datetime | None) -> dict[str, datetime | None]:
    return {"start": start, "end": end}


def headline(con: duckdb.DuckDBPyConnection, start: datetime | None = None,
             end: datetime | None = None) -> pd.DataFrame:
    """One row of headline numbers over ``[start, end)``.

    Columns: ``gpu_usage_rows``; ``spend_usd`` = Σ gpu_usage.cost_usd (all states);
    ``gpu_hours`` = Σ gpu_usage.gpu_hours; ``util_pct`` = Σ(util_pct x gpu_hours) /
    Σ gpu_hours over rows in state active or allocated_idle with a util_pct (NaN when there
    are none); ``active_usd``, ``allocated_idle_usd``, ``unallocated_usd``, ``no_data_usd``;
    ``idle_unallocated_usd`` = allocated_idle + unallocated USD; ``idle_unallocated_share``
    = that / spend_usd (NaN when spend is 0); ``first_ts``, ``last_ts`` (step starts).
    """
    return con.execute(HEADLINE_SQL, _window(start, end)).df()


def cost_by_state(con: duckdb.DuckDBPyConnection, start: datetime | None = None,
                  end: datetime | None = None) -> pd.DataFrame:
    """USD, GPU-hours and share of spend per state; always the four known states, in order.

    Columns: ``state``, ``cost_usd``, ``gpu_hours``, ``share`` (0..1 of Σ cost_usd; NaN when
    nothing was spent). An unexpected state value is kept, after the known ones.
    """
    return con.execute(COST_BY_STATE_SQL, _window(start, end)).df()


def choose_bucket(first_ts: datetime | None, last_ts: datetime | None) -> str:
    """'hour' when the data spans at most HOURLY_MAX_SPAN (3 days), else 'day'."""
    if first_ts is None or last_ts is None or pd.isna(first_ts) or pd.isna(last_ts):
        return "hour"
    return "hour" if (pd.Timestamp(last_ts) - pd.Timestamp(first_ts)) <= HOURLY_MAX_SPAN else "day"


def cost_by_state_over_time(con: duckdb.DuckDBPyConnection, bucket: str = "hour",
                            start: datetime | None = None,
                            end: datetime | None = None) -> pd.DataFrame:
    """Cost and GPU-hours per (bucket, state), long format.

    bucket: 'hour' or 'day' (UTC calendar buckets, ``date_trunc``). Columns:
    ``bucket_start``, ``state``, ``cost_usd``, ``gpu_hours``; only pairs that have rows.
    """
    if bucket not in ("hour", "day"):
        raise ValueError(f"bucket must be 'hour' or 'day', got {bucket!r}")
    return con.execute(COST_BY_STATE_OVER_TIME_SQL, {**_window(start, end), "bucket": bucket}).df()


def cost_by_team(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per team, from job_costs over every job in the warehouse (whole job lifetimes).

    Team is job_costs.team, or the namespace when it is null. Columns: ``team``, ``jobs``,
    ``gpu_hours`` (active + allocated idle), ``cost_usd`` (active + allocated-idle USD),
    ``idle_cost_usd`` (allocated-idle USD), ``active_cost_usd``; most expensive first.
    Excludes unallocated capacity (no team holds it) and held-without-telemetry cost.
    """
    return con.execute(COST_BY_TEAM_SQL).df()


def data_window(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row: ``first_ts``, ``last_ts`` (first and last step starts in gpu_usage, NaT when
    empty) and ``gpu_usage_rows``."""
    return con.execute(DATA_WINDOW_SQL).df()


@dataclass(frozen=True)
class Overview:
    """Everything the overview page shows, read in one warehouse session."""

    headline: pd.DataFrame
    by_state: pd.DataFrame
    over_time: pd.DataFrame
    bucket: str
    by_team: pd.DataFrame

    @property
    def empty(self) -> bool:
        return int(self.headline["gpu_usage_rows"].iloc[0]) == 0


def load_overview(settings: Settings) -> Overview:
    """Open the warehouse read-only and read the overview over its whole data window.

    Raises GpucostError when the warehouse is missing, locked by a writer or too old.
    """
    with open_warehouse(settings, read_only=True, prefer_snapshot=True) as con:
        head = headline(con)
        bucket = choose_bucket(head["first_ts"].iloc[0], head["last_ts"].iloc[0])
        return Overview(
            headline=head,
            by_state=cost_by_state(con),
            over_time=cost_by_state_over_time(con, bucket),
            bucket=bucket,
            by_team=cost_by_team(con),
        )
