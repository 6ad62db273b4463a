"""Shared SQL pieces: the filter predicate on ``usage_hourly``, the data window, buckets.

Precondition: the warehouse has schema >= the usage_hourly migration (read-only opens refuse
older ones), so ``usage_hourly`` exists; it may be empty.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pandas as pd

from gpucost.dashboard.filters import Filters

# The filter predicate on usage_hourly (and any table with the same column names).
# $start/$end: the window [start, end) on `hour` (null: unbounded); the lists: empty = all.
WHERE_USAGE = """
    hour >= coalesce($start::timestamp, '-infinity'::timestamp)
    and hour < coalesce($end::timestamp, 'infinity'::timestamp)
    and (len($clusters::varchar[]) = 0 or list_contains($clusters::varchar[], cluster))
    and (len($teams::varchar[]) = 0 or list_contains($teams::varchar[], team))
    and (len($namespaces::varchar[]) = 0 or list_contains($namespaces::varchar[], namespace))
    and (len($gpu_models::varchar[]) = 0 or list_contains($gpu_models::varchar[], gpu_model))
"""

# The same without the team/namespace part, for numbers that need every holder (the idle
# pool shared back to teams).
WHERE_USAGE_ALL_HOLDERS = """
    hour >= coalesce($start::timestamp, '-infinity'::timestamp)
    and hour < coalesce($end::timestamp, 'infinity'::timestamp)
    and (len($clusters::varchar[]) = 0 or list_contains($clusters::varchar[], cluster))
    and (len($gpu_models::varchar[]) = 0 or list_contains($gpu_models::varchar[], gpu_model))
"""

DATA_WINDOW_SQL = """
select min(hour) as first_hour, max(hour) as last_hour, max(last_ts) as last_ts
from usage_hourly
"""

HOUR = timedelta(hours=1)
# Bucket sizes (hours) for charts over time, smallest first.
BUCKET_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)


@dataclass(frozen=True)
class Window:
    """The window a page shows: the filter's days, or the data window where a bound is open.

    ``start``/``end``: half-open [start, end), UTC, whole hours. ``empty``: no data at all.
    """

    start: datetime
    end: datetime
    empty: bool = False

    @property
    def hours(self) -> float:
        return (self.end - self.start) / HOUR

    def params(self) -> dict[str, datetime]:
        return {"start": self.start, "end": self.end}


def data_window(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row: ``first_hour``, ``last_hour`` (UTC hour starts in usage_hourly, NaT when
    empty) and ``last_ts`` (the last step start rolled up)."""
    return con.execute(DATA_WINDOW_SQL).df()


def resolve_window(con: duckdb.DuckDBPyConnection, filters: Filters) -> Window:
    """The filter's window with open bounds closed by the data window (whole hours)."""
    row = data_window(con).iloc[0]
    first, last = row["first_hour"], row["last_hour"]
    empty = pd.isna(first)
    start = filters.start or (first.to_pydatetime() if not empty else None)
    end = filters.end or (last.to_pydatetime() + HOUR if not empty else None)
    if start is None or end is None:  # no data and an open bound: a harmless one-day window
        start = start or (end - timedelta(days=1) if end else datetime(1970, 1, 1))
        end = end or start + timedelta(days=1)
    return Window(start, max(end, start + HOUR), empty=bool(empty))


def bind(filters: Filters, window: Window | None = None, **extra: object) -> dict[str, object]:
    """Bind parameters: the filters, the window's bounds if given, and extras."""
    params = filters.params()
    if window is not None:
        params.update(window.params())
    params.update(extra)
    return params


def run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> pd.DataFrame:
    """Execute ``sql`` with the bind parameters it names (DuckDB refuses extra ones)."""
    names = set(re.findall(r"\$([a-z_]+)", sql))
    return con.execute(sql, {k: v for k, v in params.items() if k in names}).df()


def bucket_hours_for(window: Window, max_buckets: int = 168) -> int:
    """The smallest of BUCKET_HOURS giving at most ``max_buckets`` buckets over the window
    (24 when even days give more)."""
    for hours in BUCKET_HOURS:
        if math.ceil(window.hours / hours) <= max_buckets:
            return hours
    return 24


def period_bucket(window: Window) -> str:
    """'hour' for windows up to 3 days, else 'day' (bars stay readable: <= 72 hours)."""
    return "hour" if window.hours <= 72 else "day"
