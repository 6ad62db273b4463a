"""Recommendations page data: the ``recommendations`` table (written by `gpucost recommend`
and `gpucost demo`), filtered by cluster, team and namespace (bind parameters; the date and
GPU-model filters do not apply: recommendations are computed for their own window).

Per row: kind, target, team, monthly_savings_usd (per 30-day month at the window's rate),
gpu_hours_saved (in the window), confidence, action, whether a Kubernetes patch exists.
Totals per kind in precedence order. Savings never count a GPU-hour twice
(docs/recommendations.md), so they add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pandas as pd

from gpucost.analytics.recommend.runner import kinds
from gpucost.dashboard.data.common import run
from gpucost.dashboard.filters import Filters

ROWS_SQL = """
select id, kind, cluster, namespace, target, team, monthly_savings_usd, gpu_hours_saved,
       confidence, action, patch is not null as has_patch, window_start, window_end
from recommendations
where (len($clusters::varchar[]) = 0 or list_contains($clusters::varchar[], cluster))
  and (len($teams::varchar[]) = 0 or list_contains($teams::varchar[], team))
  and (len($namespaces::varchar[]) = 0 or list_contains($namespaces::varchar[], namespace))
order by monthly_savings_usd desc, target
"""


@dataclass(frozen=True)
class RecommendationsView:
    rows: pd.DataFrame            # ROWS_SQL columns
    by_kind: pd.DataFrame         # kind, recommendations, monthly_savings_usd, gpu_hours_saved
    window_start: datetime | None
    window_end: datetime | None

    @property
    def empty(self) -> bool:
        return self.rows.empty


def load(con: duckdb.DuckDBPyConnection, filters: Filters) -> RecommendationsView:
    rows = run(con, ROWS_SQL, filters.params())
    order = {k: i for i, k in enumerate(kinds())}
    by_kind = (rows.groupby("kind", as_index=False)
               .agg(recommendations=("id", "count"), monthly_savings_usd=("monthly_savings_usd", "sum"),
                    gpu_hours_saved=("gpu_hours_saved", "sum")))
    by_kind = by_kind.sort_values("kind", key=lambda s: s.map(lambda k: order.get(k, len(order))))
    start = rows["window_start"].min() if not rows.empty else None
    end = rows["window_end"].max() if not rows.empty else None
    return RecommendationsView(rows, by_kind.reset_index(drop=True), start, end)
