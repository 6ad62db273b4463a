"""Report sections that read optional or secondary tables: data quality, the bill,
stranded capacity and recommendations.

Each returns None (and the caller says why in the report's notes) when its table is absent,
so a warehouse from before the table's migration still gets a report:

- ``reconciliation``: the reconciliation mart when it exists and has rows for the week,
  else the simple instance-id match (see `Reconciliation`); None without billing line items.
- ``stranded``: needs a ``fragmentation`` table with ``ts``, ``node`` and ``stranded_gpus``.
- ``recommendations``: needs a ``recommendations`` table (DESIGN's columns).
Values are bind parameters only; table and column names are fixed strings.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from gpucost.report.model import Recommendation, Reconciliation, Stranded


def columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """Column names of a main-schema table or view; empty when it does not exist."""
    return {r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = 'main' and table_name = ?",
        [table]).fetchall()}


# ---------------------------------------------------------------- accounting identity

ASSET_GPU_COST_SQL = """
select sum(gpu_cost_usd) from asset_costs where window_start >= $start and window_start < $end
"""


def asset_gpu_cost(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> float | None:
    """Σ asset_costs.gpu_cost_usd over the days in [start, end); None when there are none."""
    value = con.execute(ASSET_GPU_COST_SQL, {"start": start, "end": end}).fetchone()[0]
    return None if value is None else float(value)


# ---------------------------------------------------------------- bill

BILLING_LINES_SQL = """
select count(*) from raw_billing_line_items
where charge_period_start < $end and charge_period_end > $start
"""

MART_COLUMNS = {"day", "instance_id", "node", "billed_cost_usd", "effective_cost_usd",
                "computed_cost_usd", "explanation"}

MART_SQL = """
with week as (
    select
        *,
        coalesce(instance_id, node)                                        as instance,
        billed_cost_usd is not null and computed_cost_usd is not null      as matched,
        billed_cost_usd is null and computed_cost_usd is not null          as unbilled,
        billed_cost_usd is not null and computed_cost_usd is null          as unseen
    from reconciliation
    where day >= $start and day < $end
)
-- sums over instance-days; counts of distinct instances
select
    count(distinct instance) filter (where matched),
    coalesce(sum(billed_cost_usd) filter (where matched), 0),
    coalesce(sum(effective_cost_usd) filter (where matched), 0),
    coalesce(sum(computed_cost_usd) filter (where matched), 0),
    count(distinct instance) filter (where unbilled),
    coalesce(sum(computed_cost_usd) filter (where unbilled), 0),
    count(distinct instance) filter (where unseen),
    coalesce(sum(billed_cost_usd) filter (where unseen), 0),
    count(*)
from week
"""

MART_EXPLANATIONS_SQL = """
select explanation, count(*) from reconciliation
where day >= $start and day < $end group by explanation order by explanation
"""

INSTANCE_MATCH_SQL = """
with nodes as (
    -- the instance id ends the provider id: aws:///us-east-1a/i-0abc...; a node name reused
    -- by a later instance keeps its latest one
    select cluster, node, arg_max(regexp_extract(provider_id, '[^/]+$'), valid_to) as instance_id
    from raw_nodes
    where provider_id is not null and valid_from < $end and valid_to > $start
    group by cluster, node
),
computed as (
    select cluster, node, sum(cost_usd) as computed_usd
    from asset_costs
    where window_start >= $start and window_start < $end
    group by cluster, node
),
lines as (
    select resource_id, sum(billed_cost)::double as billed_usd, sum(effective_cost)::double as effective_usd
    from raw_billing_line_items
    where charge_period_start >= $start and charge_period_start < $end and resource_id is not null
    group by resource_id
),
joined as (
    select c.computed_usd, l.billed_usd, l.effective_usd
    from computed as c
    left join nodes as n using (cluster, node)
    left join lines as l on l.resource_id = n.instance_id
)
select
    count(*) filter (where billed_usd is not null),
    coalesce(sum(billed_usd), 0),
    coalesce(sum(effective_usd), 0),
    coalesce(sum(computed_usd) filter (where billed_usd is not null), 0),
    count(*) filter (where billed_usd is null),
    coalesce(sum(computed_usd) filter (where billed_usd is null), 0)
from joined
"""


def billing_lines(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> int:
    return int(con.execute(BILLING_LINES_SQL, {"start": start, "end": end}).fetchone()[0])


def _gap(effective: float, computed: float) -> tuple[float, float | None]:
    gap = effective - computed
    return gap, (gap / computed * 100 if computed else None)


def reconciliation(con: duckdb.DuckDBPyConnection, start: datetime,
                   end: datetime) -> tuple[Reconciliation | None, str | None]:
    """The week's bill against computed cost, and a note saying how (or why not)."""
    lines = billing_lines(con, start, end)
    if not lines:
        return None, ("Bill reconciliation skipped: no billing line items in this week "
                      "(load them with `gpucost collect billing`).")
    params = {"start": start, "end": end}
    if MART_COLUMNS <= columns(con, "reconciliation"):
        (matched, billed, effective, computed, unbilled, unbilled_usd, unseen, unseen_usd,
         mart_rows) = con.execute(MART_SQL, params).fetchone()
        if mart_rows:
            gap, pct = _gap(float(effective), float(computed))
            explanations = dict(con.execute(MART_EXPLANATIONS_SQL, params).fetchall())
            rec = Reconciliation("reconciliation", lines, int(matched), float(billed), float(effective),
                                 float(computed), gap, pct, int(unbilled), float(unbilled_usd), int(unseen),
                                 float(unseen_usd), {k: int(v) for k, v in explanations.items()})
            return rec, ("Bill reconciliation: the reconciliation table summed over the week's days "
                         "(billing periods pro rata per day; gap = effective cost - computed cost).")
    matched, billed, effective, computed, unbilled, unbilled_usd = con.execute(INSTANCE_MATCH_SQL, params).fetchone()
    gap, pct = _gap(float(effective), float(computed))
    rec = Reconciliation("instance-id", lines, int(matched), float(billed), float(effective), float(computed),
                         gap, pct, int(unbilled), float(unbilled_usd), None, None)
    return rec, ("Bill reconciliation (simple): line items with charge_period_start in the week whose "
                 "resource_id is the instance id ending a node's provider_id, against asset_costs.cost_usd "
                 "(whole node) of those nodes; gap = effective cost - computed cost.")


# ---------------------------------------------------------------- stranded

# {keys}: 'ts, node' or, when fragmentation has a cluster column, 'ts, cluster, node'
STRANDED_SQL = """
with frag as (
    select {keys}, sum(stranded_gpus) as stranded_gpus
    from fragmentation
    where ts >= $start and ts < $end and stranded_gpus > 0
    group by {keys}
),
unallocated as (
    select {keys}, count(*) as gpus, sum(cost_usd) as cost_usd, sum(gpu_hours) as gpu_hours
    from gpu_usage
    where ts >= $start and ts < $end and state = 'unallocated'
    group by {keys}
)
select
    coalesce(sum(u.cost_usd * least(f.stranded_gpus, u.gpus) / u.gpus), 0),
    coalesce(sum(u.gpu_hours * least(f.stranded_gpus, u.gpus) / u.gpus), 0)
from frag as f
join unallocated as u using ({keys})
"""


def stranded(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime,
             unallocated_usd: float) -> Stranded | None:
    """Stranded share of unallocated cost; None without fragmentation rows in the window."""
    cols = columns(con, "fragmentation")
    if not {"ts", "node", "stranded_gpus"} <= cols or not con.execute(
            "select count(*) from fragmentation where ts >= $start and ts < $end",
            {"start": start, "end": end}).fetchone()[0]:
        return None
    keys = "ts, cluster, node" if "cluster" in cols else "ts, node"
    cost, hours = con.execute(STRANDED_SQL.format(keys=keys), {"start": start, "end": end}).fetchone()
    return Stranded(float(cost), float(hours), float(cost) / unallocated_usd if unallocated_usd else None)


# ---------------------------------------------------------------- recommendations

RECOMMENDATION_COLUMNS = {"id", "kind", "target", "action", "monthly_savings_usd"}


def recommendations(con: duckdb.DuckDBPyConnection, team: str | None, team_namespaces: list[str],
                    ) -> tuple[list[Recommendation] | None, str | None]:
    """All recommendations of the scope, largest monthly saving first, and a note.

    A team report keeps those whose ``team`` column is the team, else (no such column) those
    whose ``namespace`` is one of the team's namespaces; without either it shows none.
    """
    cols = columns(con, "recommendations")
    if not RECOMMENDATION_COLUMNS <= cols or not con.execute("select count(*) from recommendations").fetchone()[0]:
        return None, ("Recommendations skipped: the warehouse has no recommendations yet "
                      "(`gpucost recommend` computes them).")
    confidence = "confidence::varchar" if "confidence" in cols else "null"
    where, params, note = "true", {}, None
    if team is not None:
        if "team" in cols:
            where, params = "team = $team", {"team": team}
        elif "namespace" in cols:
            where, params = "list_contains($namespaces, namespace)", {"namespaces": team_namespaces}
        else:
            return [], "Recommendations are not split by team (the table has no team or namespace column)."
    rows = con.execute(f"""
        select id::varchar, kind::varchar, target::varchar, action::varchar,
               monthly_savings_usd::double, {confidence}
        from recommendations where {where}
        order by monthly_savings_usd desc nulls last, id""", params).fetchall()
    return [Recommendation(*r) for r in rows], note


def team_namespaces(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime, team: str) -> list[str]:
    return [r[0] for r in con.execute(
        "select distinct namespace from report_cells where team = $team and day >= $start and day < $end "
        "order by 1", {"team": team, "start": start, "end": end}).fetchall()]
