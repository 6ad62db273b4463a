"""spot: run restartable workloads that sit on on-demand nodes on spot capacity.

Restartable (from raw_pod_allocations owners and labels):
  - a pod label in ``checkpoint_labels`` (value not 'false'/'0'): the workload resumes from
    checkpoints;
  - a Job/CronJob that was retried: a pod of the same Job (label batch.kubernetes.io/job-name,
    else the owner) started after another one ended;
  - a Deployment/StatefulSet/ReplicaSet that ran at least ``min_replicas`` pods at once.
Saving fraction per instance type s = 1 - spot / on-demand, where spot = mean spot price
published for the type in ``region`` from 7 days before the window to its end (raw_prices)
and on-demand = the last on-demand list price before the window's end (raw_prices), else the
catalog's; without spot history, the Spot Advisor saving (ingest/data/aws_spot_advisor_gpu.csv).
Saving (window) = sum over the job's on-demand devices of s(type) x remaining cost; no
GPU-hours saved. Records need ``min_on_demand_gpu_hours``; types whose Spot Advisor
interruption bucket exceeds ``max_interruption_index`` are skipped. Confidence from the worst
bucket (<10 %/month high, 10-20 % medium, >20 % low), at most medium for retried Jobs.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from gpucost.analytics.recommend import patches
from gpucost.analytics.recommend.facts import PodShape, max_concurrent
from gpucost.analytics.recommend.jobs import job_contexts
from gpucost.analytics.recommend.model import Finding, FractionClaim, Window
from gpucost.analytics.recommend.reference import interruption_confidence, spot_advisor
from gpucost.ingest.catalog import catalog

KIND = "spot"
PRECEDENCE = 50

PRICES_SQL = """
with spot as (
    select instance_type, avg(usd_per_hour) as spot_usd_per_hour, count(*) as spot_prices
    from raw_prices
    where kind = 'spot' and region = $region
      and effective_at >= $start - interval 7 day and effective_at < $end
    group by instance_type
),
od as (
    select instance_type, last(usd_per_hour order by effective_at) as od_usd_per_hour
    from raw_prices
    where kind = 'on_demand' and region = $region and effective_at < $end
    group by instance_type
)
select s.instance_type, s.spot_usd_per_hour, s.spot_prices, od.od_usd_per_hour
from spot as s left join od using (instance_type)
order by s.instance_type
"""


@dataclass(frozen=True)
class Params:
    """checkpoint_labels: pod labels that mark a checkpointing workload (default
    gpucost.io/checkpoint). min_replicas: concurrent replicas that make a Deployment
    restartable (default 2). min_on_demand_gpu_hours: on-demand GPU-hours in the window
    (default 4). max_interruption_index: highest Spot Advisor bucket proposed (0 '<5%' ..
    4 '>20%'; default 4). region: prices and Spot Advisor region (default us-east-1)."""

    checkpoint_labels: tuple[str, ...] = ("gpucost.io/checkpoint",)
    min_replicas: int = 2
    min_on_demand_gpu_hours: float = 4.0
    max_interruption_index: int = 4
    region: str = "us-east-1"


def _retried(pods: tuple[PodShape, ...]) -> bool:
    groups: dict[str, list[PodShape]] = {}
    for p in pods:
        groups.setdefault(p.labels.get("batch.kubernetes.io/job-name") or p.owner_name or p.pod, []).append(p)
    return any(b.started_at >= a.ended_at for g in groups.values() for a in g for b in g if a is not b)


def restartable(ctx, params: Params) -> str | None:
    """Why the job may run on spot, or None."""
    labels = ctx.label
    for key in params.checkpoint_labels:
        if key in labels and labels[key].lower() not in ("false", "0", ""):
            return f"checkpoint label {key}={labels[key]}"
    if ctx.owner_kind in ("Job", "CronJob") and _retried(ctx.pods):
        return "Job retried after a failure"
    if ctx.owner_kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        replicas = max_concurrent(list(ctx.pods))
        if replicas >= params.min_replicas:
            return f"{replicas} replicas at once"
    return None


def spot_savings(con: duckdb.DuckDBPyConnection, window: Window, params: Params) -> dict[str, tuple[float, str]]:
    """instance type -> (saving fraction, source) from spot history, else Spot Advisor."""
    out = {t: (a.savings_pct / 100.0, "Spot Advisor (us-east-1, June 2025)")
           for t, a in spot_advisor(params.region).items()}
    rows = con.execute(PRICES_SQL, {"region": params.region, "start": window.start, "end": window.end}).fetchall()
    for itype, spot, n, od in rows:
        od = od or (catalog()[itype].usd_per_hour if itype in catalog() else None)
        if od and spot is not None and spot < od:
            out[itype] = (1.0 - spot / od, f"spot history ({n} prices) vs on-demand list")
    return out


def find(con: duckdb.DuckDBPyConnection, window: Window, params: Params) -> list[Finding]:
    savings = spot_savings(con, window, params)
    advice = spot_advisor(params.region)
    out = []
    for ctx in job_contexts(con, window):
        od = [d for d in ctx.devices if d.capacity_type == "on_demand" and d.instance_type in savings]
        od = [d for d in od if advice.get(d.instance_type) is None
              or advice[d.instance_type].interruption_index <= params.max_interruption_index]
        if sum(d.gpu_hours for d in od) < params.min_on_demand_gpu_hours:
            continue
        why = restartable(ctx, params)
        if why is None:
            continue
        types = sorted({d.instance_type for d in od})
        worst = max((advice[t].interruption_index if t in advice else 4) for t in types)
        confidence = interruption_confidence(worst)
        if ctx.owner_kind in ("Job", "CronJob") and confidence == "high":
            confidence = "medium"
        mig = sorted({d.mig_profile for d in od if d.mig_profile})
        action = (f"Run {ctx.owner_kind} {ctx.owner_name} on spot {', '.join(types)} capacity "
                  + (f"partitioned like today ({', '.join(mig)}) " if mig else "")
                  + f"({why}): about {100 * max(savings[t][0] for t in types):.0f} % less per GPU-hour.")
        patch = ctx.patch(con, window, KIND, action, affinity=patches.spot_affinity())
        out.append(Finding(
            kind=KIND, target=ctx.target, cluster=ctx.cluster, namespace=ctx.namespace, team=ctx.team,
            action=action, confidence=confidence, patch=patch,
            claim=FractionClaim(ctx.key, {d.device_key: savings[d.instance_type][0] for d in od},
                                frozenset(d.device_key for d in od)),
            evidence={"job": ctx.name, "owner_kind": ctx.owner_kind, "restartable": why,
                      "on_demand_gpu_hours": sum(d.gpu_hours for d in od),
                      "on_demand_cost_usd": sum(d.cost_usd for d in od), "job_cost_usd": ctx.cost_usd,
                      "spot_saving_pct": {t: 100 * savings[t][0] for t in types},
                      "spot_saving_source": {t: savings[t][1] for t in types},
                      "interruption_frequency": {t: advice[t].interruption_frequency if t in advice else "unknown"
                                                 for t in types}}))
    return out
