"""Choices for the filter bar: clusters, teams, namespaces, GPU models and the data's days.

Read from the small dimension tables of gpu_usage (one row per device / pod), not from the
facts, so it costs the same on any warehouse size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from gpucost.dashboard.data.common import data_window

OPTIONS_SQL = """
select 'cluster' as kind, cluster as value from gpu_usage_devices group by all
union all
select 'gpu_model', gpu_model from gpu_usage_devices where gpu_model is not null group by all
union all
select 'team', coalesce(team, namespace) from gpu_usage_pods group by all
union all
select 'namespace', namespace from gpu_usage_pods group by all
order by kind, value
"""


@dataclass(frozen=True)
class FilterOptions:
    clusters: list[str]
    teams: list[str]
    namespaces: list[str]
    gpu_models: list[str]
    first_day: date | None   # first and last UTC day with data
    last_day: date | None


def filter_options(con: duckdb.DuckDBPyConnection) -> FilterOptions:
    rows = con.execute(OPTIONS_SQL).fetchall()
    by_kind: dict[str, list[str]] = {"cluster": [], "gpu_model": [], "team": [], "namespace": []}
    for kind, value in rows:
        by_kind[kind].append(value)
    w = data_window(con).iloc[0]
    first = None if pd.isna(w["first_hour"]) else w["first_hour"].date()
    last = None if pd.isna(w["last_hour"]) else w["last_hour"].date()
    return FilterOptions(by_kind["cluster"], by_kind["team"], by_kind["namespace"],
                         by_kind["gpu_model"], first, last)
