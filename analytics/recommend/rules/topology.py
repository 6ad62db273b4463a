"""topology: co-locate a multi-GPU job whose GPUs sit in several NVLink domains although one
domain could hold them all.

NVLink domain of a node's GPUs: raw_gpu_devices.nvlink_domain when a collector knows it (GPU
feature discovery's clique label, DRA ResourceSlices), else the node itself when the catalog
puts its GPUs behind one NVSwitch (p4d, p5, ...); GPUs with neither have no NVLink peers and
never count. An hour of a job is *spread* when its GPUs (usage_hourly, active or idle) sit in
two or more domains, every one of them known, and the job's GPUs that hour are no more than
the largest domain of that GPU model (e.g. 8 on a p4d), so one domain would hold it.

Saving: GPU traffic between domains crosses the network instead of NVLink, so a synchronous
job runs slower; with an assumed slowdown ``cross_domain_slowdown_pct`` (default 10 %), running
in one domain would need 1 / (1 + slowdown) of the GPU-hours: saving = slowdown / (1 +
slowdown) x the job's cost in spread hours, per device, capped by what earlier rules left
(an assumption, hence confidence low; measure the job's step time to confirm). Records need ``min_spread_hours``.
Patch: a required pod affinity on the job's pods (topology key kubernetes.io/hostname, or
nvidia.com/gpu.clique for multi-node NVLink) on the owner's pod template.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from gpucost.analytics.recommend.jobs import job_contexts
from gpucost.analytics.recommend.model import DeviceClaim, Finding, Window
from gpucost.ingest.catalog import catalog

KIND = "topology"
PRECEDENCE = 55

SPREAD_SQL = """
with nvswitch as (
    select unnest($nvswitch_types::varchar[]) as instance_type
),
domains as (
    select cluster, node, gpu_uuid, any_value(nvlink_domain) as nvlink_domain
    from raw_gpu_devices
    where valid_from < $end and valid_to > $start
    group by cluster, node, gpu_uuid
),
device_hours as (
    select u.cluster, u.namespace, u.job, u.hour, u.gpu_model, u.device_key, u.node,
           u.active_cost_usd + u.idle_cost_usd as cost_usd, u.active_gpu_hours + u.idle_gpu_hours as gpu_hours,
           coalesce(dom.nvlink_domain,
                    case when u.instance_type in (select instance_type from nvswitch)
                         then u.cluster || '/' || u.node end) as domain
    from usage_hourly as u
    left join gpu_usage_devices as g using (device_key)
    left join domains as dom on dom.cluster = u.cluster and dom.node = u.node and dom.gpu_uuid = g.gpu_uuid
    where u.hour >= $start and u.hour < $end and u.mig_profile is null
),
held as (
    select * from device_hours where job is not null and gpu_hours > 0
),
domain_sizes as (
    -- GPUs per domain, held or not
    select gpu_model, max(gpus) as largest_domain_gpus
    from (select gpu_model, domain, hour, count(distinct device_key) as gpus from device_hours
          where domain is not null group by all)
    group by gpu_model
),
job_hours as (
    select cluster, namespace, job, hour, any_value(gpu_model) as gpu_model,
           count(distinct device_key) as gpus, count(distinct domain) as domains,
           count(distinct node) as nodes, bool_and(domain is not null) as all_known,
           count(*) over (partition by cluster, namespace, job) as held_hours
    from held
    group by cluster, namespace, job, hour
),
spread as (
    select j.*, s.largest_domain_gpus
    from job_hours as j
    join domain_sizes as s using (gpu_model)
    where j.all_known and j.domains > 1 and j.gpus <= s.largest_domain_gpus
)
select s.cluster, s.namespace, s.job, h.device_key,
       sum(h.cost_usd) as cost_usd, sum(h.gpu_hours) as gpu_hours,
       any_value(s.held_hours) as held_hours, max(s.gpus) as gpus, max(s.domains) as domains,
       max(s.nodes) as nodes, max(s.largest_domain_gpus) as largest_domain_gpus,
       list(distinct s.hour) as hours
from spread as s
join held as h using (cluster, namespace, job, hour)
group by s.cluster, s.namespace, s.job, h.device_key
order by s.cluster, s.namespace, s.job, h.device_key
"""


@dataclass(frozen=True)
class Params:
    """cross_domain_slowdown_pct: assumed slowdown of a job split across NVLink domains, %
    (default 10). min_spread_hours: spread hours in the window for a record (default 4)."""

    cross_domain_slowdown_pct: float = 10.0
    min_spread_hours: int = 4


def _affinity(ctx) -> dict | None:
    labels = ctx.label
    for key in ("training.kubeflow.org/job-name", "jobset.sigs.k8s.io/jobset-name", "batch.kubernetes.io/job-name"):
        if key in labels:
            selector = {"matchLabels": {key: labels[key]}}
            break
    else:
        return None
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}]}}


def find(con: duckdb.DuckDBPyConnection, window: Window, params: Params) -> list[Finding]:
    nvswitch = sorted(t for t, it in catalog().items() if it.nvswitch)
    rows = con.execute(SPREAD_SQL, {"start": window.start, "end": window.end, "nvswitch_types": nvswitch}).fetchall()
    spread: dict[tuple, list[tuple]] = {}
    for r in rows:
        spread.setdefault(r[:3], []).append(r)
    slowdown = max(0.0, params.cross_domain_slowdown_pct) / 100.0
    fraction = slowdown / (1.0 + slowdown)
    out = []
    for ctx in job_contexts(con, window) if spread else []:
        devices = spread.get(ctx.key)
        hours = set().union(*(r[11] for r in devices)) if devices else set()
        if len(hours) < params.min_spread_hours:
            continue
        gpus, largest = max(r[7] for r in devices), max(r[10] for r in devices)
        action = (f"Schedule the pods of {ctx.owner_kind} {ctx.owner_name} on one node: one NVLink domain of "
                  f"{largest} GPUs holds its {gpus} GPUs, now split over {max(r[8] for r in devices)}")
        affinity = _affinity(ctx)
        out.append(Finding(
            kind=KIND, target=ctx.target, action=action, confidence="low",
            claim=DeviceClaim(ctx.key, {int(r[3]): (fraction * r[4], fraction * r[5]) for r in devices}),
            cluster=ctx.cluster, namespace=ctx.namespace, team=ctx.team,
            evidence={"job": ctx.name, "spread_hours": len(hours), "held_hours": devices[0][6], "gpus": gpus,
                      "nvlink_domains": max(r[8] for r in devices), "nodes": max(r[9] for r in devices),
                      "largest_domain_gpus": largest, "spread_cost_usd": sum(r[4] for r in devices),
                      "assumed_slowdown_pct": params.cross_domain_slowdown_pct},
            patch=ctx.patch(con, window, KIND, action, affinity=affinity) if affinity else None))
    return out
