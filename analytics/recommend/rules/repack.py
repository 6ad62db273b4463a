"""repack: consolidate a GPU pool whose pods are spread thin, and remove the nodes it empties.

A pool is the whole-GPU nodes of one GPU model in one cluster (MIG nodes are left out: their
slice layout is fixed). Every ``snapshot_every_hours`` from the window start, the pods running
in the pool (raw_pod_allocations: GPUs, CPU and memory requests) are placed again on the same
nodes with ``analytics.placement.observed.repack`` (policy ``policy``, largest pods first,
cheapest GPU-hour first), keeping ``headroom_pct`` % of the GPUs in use free on empty nodes.
The nodes left empty are drainable; each snapshot stands for ``snapshot_every_hours`` hours.

Saving (window) = sum over snapshots of the drained nodes' GPU cost per hour (usage_hourly) x
the hours the snapshot stands for, capped by the pool's unallocated GPU cost (a repack only
removes capacity nobody holds). GPU-hours saved: the drained GPUs x those hours, capped alike.
Confidence: medium (moving pods restarts them; gang-scheduled jobs move as a whole); low when
a snapshot could not place every pod. Records need ``min_drained_node_hours``.
Patch: for Karpenter pools (nodes labelled karpenter.sh/nodepool), NodePool consolidation of
underused nodes; the scheduler scoring that packs (NodeResourcesFit MostAllocated, GPUs
weighted) is in the evidence, as it is a kube-scheduler configuration file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

import duckdb
import numpy as np

from gpucost.analytics.placement.model import MILLI, NodeInventory, Workload
from gpucost.analytics.placement.observed import PoolSnapshot, repack
from gpucost.analytics.recommend import patches
from gpucost.analytics.recommend.model import DeviceClaim, Finding, Window, recommendation_id
from gpucost.ingest.catalog import catalog

KIND = "repack"
PRECEDENCE = 60
MIB = 1048576

NODES_SQL = """
with snaps as (
    select unnest($times::timestamp[]) as t
),
nodes as (
    select s.t, r.cluster, r.node, any_value(r.instance_type) as instance_type,
           any_value(r.capacity_type) as capacity_type, max(r.gpu_count) as gpu_count,
           any_value(r.cpu_cores) as cpu_cores, any_value(r.memory_bytes) as memory_bytes,
           any_value(r.labels['karpenter.sh/nodepool']) as nodepool
    from snaps as s
    join raw_nodes as r on r.valid_from <= s.t and s.t < r.valid_to and r.gpu_count > 0
    group by s.t, r.cluster, r.node
),
hours as (
    select hour, cluster, node, any_value(gpu_model) as gpu_model, sum(cost_usd) as usd_per_hour,
           bool_or(mig_profile is not null) as mig
    from usage_hourly
    where hour in (select time_bucket(interval 1 hour, t) from snaps)
    group by hour, cluster, node
)
select n.*, h.gpu_model, h.usd_per_hour
from nodes as n
join hours as h on h.hour = time_bucket(interval 1 hour, n.t) and h.cluster = n.cluster and h.node = n.node
where not h.mig
order by n.t, n.cluster, h.gpu_model, n.node
"""

PODS_SQL = """
with snaps as (
    select unnest($times::timestamp[]) as t
)
select distinct on (s.t, a.cluster, a.namespace, a.pod)
    s.t, a.cluster, a.node, a.namespace, a.pod,
    coalesce(a.gpu_request, len(a.devices)) as gpus,
    coalesce(a.cpu_request_cores, 0) as cpu_cores,
    coalesce(a.memory_request_bytes, 0) as memory_bytes
from snaps as s
join raw_pod_allocations as a on a.valid_from <= s.t and s.t < a.valid_to
where a.mig_profile is null
order by s.t, a.cluster, a.namespace, a.pod, a.source
"""

UNALLOCATED_SQL = """
select cluster, gpu_model, device_key, sum(unallocated_cost_usd) as usd, sum(unallocated_gpu_hours) as gpu_hours
from usage_hourly
where hour >= $start and hour < $end and job is null and unallocated_gpu_hours > 0
group by cluster, gpu_model, device_key
order by cluster, gpu_model, device_key
"""


@dataclass(frozen=True)
class Params:
    """snapshot_every_hours: hours between the instants repacked (default 6).
    policy: placement policy of analytics.placement (default best-fit).
    headroom_pct: % of the GPUs in use kept free on empty nodes for new pods (default 10).
    min_drained_node_hours: drained node-hours in the window for a record (default 24)."""

    snapshot_every_hours: int = 6
    policy: str = "best-fit"
    headroom_pct: float = 10.0
    min_drained_node_hours: float = 24.0


@dataclass
class _Pool:
    """What the snapshots of one pool add up to."""

    saving_usd: float = 0.0
    gpu_hours: float = 0.0
    node_hours: float = 0.0
    empty_node_hours: float = 0.0
    snapshots: int = 0
    failed: int = 0
    nodes_seen: float = 0.0
    drained_count: dict[str, int] = field(default_factory=dict)
    nodepools: set[str] = field(default_factory=set)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r)) for r in cursor.fetchall()]


def _snapshot(nodes: list[dict], pods: list[dict]) -> PoolSnapshot:
    """The pool at one instant: capacity from raw_nodes, else the catalog."""
    index = {n["node"]: i for i, n in enumerate(nodes)}
    cat = catalog()

    def cpu(n: dict) -> float:
        if n["cpu_cores"] is not None:
            return n["cpu_cores"]
        return cat[n["instance_type"]].vcpu if n["instance_type"] in cat else 0

    def mem(n: dict) -> int:
        if n["memory_bytes"] is not None:
            return n["memory_bytes"]
        return cat[n["instance_type"]].memory_mib * MIB if n["instance_type"] in cat else 0

    inventory = NodeInventory(name=[n["node"] for n in nodes], cpu_milli=[int(cpu(n) * 1000) for n in nodes],
                              memory_mib=[int(mem(n) // MIB) for n in nodes],
                              gpu_count=[n["gpu_count"] for n in nodes],
                              gpu_model=[n["gpu_model"] or "" for n in nodes])
    workload = Workload(name=[p["pod"] for p in pods], cpu_milli=[int(p["cpu_cores"] * 1000) for p in pods],
                        memory_mib=[int(p["memory_bytes"] // MIB) for p in pods],
                        num_gpu=[p["gpus"] for p in pods], gpu_milli=[MILLI] * len(pods))
    return PoolSnapshot(inventory, np.array([n["usd_per_hour"] for n in nodes], dtype=float),
                        np.array([n["capacity_type"] == "spot" for n in nodes]), workload,
                        np.array([index.get(p["node"], -1) for p in pods], dtype=np.int64))


# kube-scheduler's scoring that packs (a scheduler configuration file, not an API object, so
# it travels in the evidence rather than in the YAML of API patches)
SCHEDULER_SCORING = {"plugin": "NodeResourcesFit", "scoringStrategy": {"type": "MostAllocated", "resources": [
    {"name": "nvidia.com/gpu", "weight": 5}, {"name": "cpu", "weight": 1}, {"name": "memory", "weight": 1}]}}


def _patch(rec_id: str, action: str, nodepools: set[str]) -> str | None:
    """Karpenter NodePool merge patches that let consolidation remove underused nodes."""
    return patches.join([patches.document(
        f"recommendation {rec_id}: {action}\nmerge patch: let Karpenter consolidate underused nodes of this NodePool",
        {"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
         "metadata": {"name": pool, "annotations": {patches.ANNOTATION: rec_id}},
         "spec": {"disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "5m"}}})
        for pool in sorted(nodepools)])


def find(con: duckdb.DuckDBPyConnection, window: Window, params: Params) -> list[Finding]:
    every = max(1, int(params.snapshot_every_hours))
    times, t = [], window.start
    while t < window.end:
        times.append(t)
        t += timedelta(hours=every)
    if not times:
        return []
    pods_at: dict[tuple, list[dict]] = {}
    for p in _rows(con, PODS_SQL, {"times": times}):
        if p["gpus"]:
            pods_at.setdefault((p["t"], p["cluster"], p["node"]), []).append(p)
    by_pool: dict[tuple, dict] = {}
    for n in _rows(con, NODES_SQL, {"times": times}):
        by_pool.setdefault((n["cluster"], n["gpu_model"]), {}).setdefault(n["t"], []).append(n)

    pools: dict[tuple, _Pool] = {}
    for key, snaps in sorted(by_pool.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        acc = pools.setdefault(key, _Pool())
        for t, nodes in sorted(snaps.items()):
            hours = min(every, (window.end - t).total_seconds() / 3600)
            pods = [p for n in nodes for p in pods_at.get((t, n["cluster"], n["node"]), [])]
            snap = _snapshot(nodes, pods)
            used = int(sum(p["gpus"] for p in pods))
            result = repack(snap, params.policy, headroom_gpus=math.ceil(params.headroom_pct / 100 * used))
            acc.snapshots += 1
            acc.nodes_seen += len(nodes)
            if not result.placed_all:
                acc.failed += 1
                continue
            acc.saving_usd += result.saving_per_hour * hours
            acc.gpu_hours += result.drained_gpus * hours
            acc.node_hours += len(result.drained) * hours
            acc.empty_node_hours += len(result.already_empty) * hours
            for name in result.drained:
                acc.drained_count[name] = acc.drained_count.get(name, 0) + 1
            acc.nodepools |= {n["nodepool"] for n in nodes if n["node"] in result.drained and n["nodepool"]}

    unallocated: dict[tuple, dict[int, tuple[float, float]]] = {}
    for cluster, model, device, usd, gpu_hours in con.execute(
            UNALLOCATED_SQL, {"start": window.start, "end": window.end}).fetchall():
        unallocated.setdefault((cluster, model), {})[int(device)] = (usd, gpu_hours)

    findings = []
    for (cluster, model), acc in pools.items():
        devices = unallocated.get((cluster, model), {})
        pool_usd = sum(u for u, _ in devices.values())
        if acc.node_hours < params.min_drained_node_hours or acc.saving_usd <= 0 or pool_usd <= 0:
            continue
        ratio = min(1.0, acc.saving_usd / pool_usd)
        claim = DeviceClaim(None, {d: (u * ratio, h * ratio) for d, (u, h) in devices.items()})
        mean_drained = acc.node_hours / (window.hours or 1)
        mean_nodes = acc.nodes_seen / acc.snapshots
        target = f"pool/{model}"
        action = (f"Pack {model} pods onto fewer nodes (scheduler scoring MostAllocated) and remove the nodes "
                  f"that empty: about {mean_drained:.1f} of {mean_nodes:.1f} nodes on average")
        top = sorted(acc.drained_count.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        rec_id = recommendation_id(KIND, target, window, cluster)
        findings.append(Finding(
            kind=KIND, target=target, action=action, confidence="low" if acc.failed else "medium",
            claim=claim, cluster=cluster,
            evidence={"gpu_model": model, "policy": params.policy, "snapshots": acc.snapshots,
                      "snapshots_not_placed": acc.failed, "snapshot_every_hours": every,
                      "mean_nodes": mean_nodes, "mean_drained_nodes": mean_drained,
                      "drained_node_hours": acc.node_hours, "drained_gpu_hours": acc.gpu_hours,
                      "already_empty_node_hours": acc.empty_node_hours,
                      "drained_gpu_cost_usd": acc.saving_usd, "pool_unallocated_cost_usd": pool_usd,
                      "headroom_pct": params.headroom_pct, "scheduler_scoring": SCHEDULER_SCORING,
                      "nodes_drained_most": [{"node": n, "snapshots": c} for n, c in top]},
            patch=_patch(rec_id, action, acc.nodepools)))
    return findings
