"""idle-reclaim: give back GPUs a job holds while doing nothing for hours.

Data: usage_hourly (per job, device and hour: active / allocated_idle GPU-hours and cost).
An hour is *idle* for a job when it held GPUs, some of that time allocated_idle, and its
active GPU-hours are at most ``max_active_share_pct`` % of its held GPU-hours (default 0: no
GPU of the job was active at any step of the hour). Idle hours in a run of at least
``min_idle_run_hours`` consecutive hours are reclaimable (shorter dips — checkpoints, data
loading, a notebook between cells — are not).

Saving (window) = allocated_idle cost of the job's devices in reclaimable hours; GPU-hours
saved = their allocated_idle GPU-hours. A record needs at least ``min_idle_gpu_hours``.
Confidence: high when the longest run is at least ``high_confidence_run_hours``, else medium.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from gpucost.analytics.recommend.jobs import job_contexts
from gpucost.analytics.recommend.model import DeviceClaim, Finding, Window

KIND = "idle-reclaim"
PRECEDENCE = 10

IDLE_SQL = """
with hours as (
    select cluster, namespace, job, hour,
           sum(active_gpu_hours) as active_h, sum(idle_gpu_hours) as idle_h
    from usage_hourly
    where hour >= $start and hour < $end and job is not null
    group by cluster, namespace, job, hour
),
flagged as (
    select *, idle_h > 0 and active_h <= $max_active_share * (active_h + idle_h) as idle
    from hours
),
islands as (
    select *, hour - to_hours(row_number() over (
               partition by cluster, namespace, job, idle order by hour)) as run_id
    from flagged
),
runs as (
    select cluster, namespace, job, run_id, count(*) as run_hours
    from islands where idle
    group by cluster, namespace, job, run_id
),
reclaim as (
    select i.cluster, i.namespace, i.job, i.hour, r.run_hours
    from islands as i join runs as r using (cluster, namespace, job, run_id)
    where i.idle and r.run_hours >= $min_run_hours
)
select u.cluster, u.namespace, u.job, u.device_key,
       sum(u.idle_gpu_hours) as idle_gpu_hours, sum(u.idle_cost_usd) as idle_cost_usd,
       count(distinct r.hour) as idle_hours, max(r.run_hours) as longest_run_hours
from usage_hourly as u
join reclaim as r using (cluster, namespace, job, hour)
where u.hour >= $start and u.hour < $end
group by u.cluster, u.namespace, u.job, u.device_key
order by u.cluster, u.namespace, u.job, u.device_key
"""


@dataclass(frozen=True)
class Params:
    """min_idle_run_hours: shortest run of consecutive idle hours that counts (default 2 h).
    min_idle_gpu_hours: reclaimable allocated_idle GPU-hours a job needs in the window for a
    record (default 4 GPU-hours). max_active_share_pct: an hour is idle when active GPU-hours
    are at most this % of held GPU-hours (default 0 %). high_confidence_run_hours: longest run
    that makes the record high confidence (default 6 h)."""

    min_idle_run_hours: float = 2.0
    min_idle_gpu_hours: float = 4.0
    max_active_share_pct: float = 0.0
    high_confidence_run_hours: float = 6.0


def _action(kind: str, name: str, hours: float, longest: float) -> str:
    what = f"idle for {hours:.0f} h in runs of up to {longest:.0f} h"
    if kind in ("Notebook", "StatefulSet"):
        return f"Cull notebook {name} when idle (Kubeflow culling, e.g. after 60 min): its GPUs sat {what}."
    if kind in ("Deployment", "ReplicaSet"):
        return f"Scale {kind} {name} down when idle (HPA/KEDA to fewer replicas or zero): its GPUs sat {what}."
    return f"Stop {kind} {name} from holding GPUs while idle (fail fast, release between stages): they sat {what}."


def find(con: duckdb.DuckDBPyConnection, window: Window, params: Params) -> list[Finding]:
    rows = con.execute(IDLE_SQL, {"start": window.start, "end": window.end,
                                  "max_active_share": params.max_active_share_pct / 100.0,
                                  "min_run_hours": params.min_idle_run_hours}).fetchall()
    per_job: dict[tuple, list] = {}
    for cluster, namespace, job, device_key, hours, usd, idle_hours, longest in rows:
        per_job.setdefault((cluster, namespace, job), []).append((int(device_key), hours, usd, idle_hours, longest))
    out = []
    for ctx in job_contexts(con, window):
        devs = per_job.get(ctx.key)
        if not devs:
            continue
        gpu_hours = sum(d[1] for d in devs)
        if gpu_hours < params.min_idle_gpu_hours:
            continue
        idle_hours = max(d[3] for d in devs)
        longest = max(d[4] for d in devs)
        out.append(Finding(
            kind=KIND, target=ctx.target, cluster=ctx.cluster, namespace=ctx.namespace, team=ctx.team,
            action=_action(ctx.owner_kind, ctx.owner_name, idle_hours, longest),
            confidence="high" if longest >= params.high_confidence_run_hours else "medium",
            claim=DeviceClaim(ctx.key, {d[0]: (d[2], d[1]) for d in devs}),
            evidence={"job": ctx.name, "owner_kind": ctx.owner_kind, "held_gpu_hours": ctx.gpu_hours,
                      "job_cost_usd": ctx.cost_usd, "reclaimable_idle_gpu_hours": gpu_hours,
                      "reclaimable_idle_cost_usd": sum(d[2] for d in devs), "idle_hours": idle_hours,
                      "longest_idle_run_hours": longest, "min_idle_run_hours": params.min_idle_run_hours}))
    return out
