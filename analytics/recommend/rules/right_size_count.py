"""right-size-count: ask for fewer GPUs per pod when some of a multi-GPU pod's GPUs go unused.

Data: per-device GPU states of the job (usage_hourly: active and allocated_idle GPU-hours per
device) and the pods' devices and GPU requests (raw_pod_allocations). Pods asking for 2 or
more whole GPUs only (MIG pods are the share rule's).

Per pod with n GPUs, each device d has an active share a_d = active GPU-hours / held
GPU-hours (its per-step states) and a mean utilisation u_d (% , GPU-hour weighted). A device
with a_d <= ``unused_active_share_pct`` is unused. GPUs the pod needs:
  gang-scheduled owners (PyTorchJob, JobSet, MPIJob, ...): n - (unused devices) — lock-step
    training cannot be squeezed onto fewer GPUs, only GPUs that never work can go;
  other owners (Jobs, Deployments, notebooks: independent work per GPU):
    max(1, min(n - unused, ceil(sum u_d / ``target_util_pct``))) — the work of the pod's GPUs
    on fewer GPUs, each at most at the target utilisation. Each GPU keeps its own working set
    (data-parallel workers), so memory per GPU is unchanged; jobs that shard one model over
    GPUs should be marked gang or skip this record.
The job drops k = min over its pods (n - needed) GPUs per pod (the most demanding pod decides);
k >= 1 makes a record. Saving (window) = the cost of each pod's k least-active devices;
GPU-hours saved = their GPU-hours. Confidence: high when every dropped device is unused,
else medium. Devices held less than ``min_held_gpu_hours`` in the window are not judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb

from gpucost.analytics.recommend import patches
from gpucost.analytics.recommend.jobs import GANG_KINDS, job_contexts
from gpucost.analytics.recommend.model import DeviceClaim, Finding, Window

KIND = "right-size-count"
PRECEDENCE = 20


@dataclass(frozen=True)
class Params:
    """unused_active_share_pct: a device active at most this % of its held time is unused
    (default 5 %). target_util_pct: utilisation per GPU after consolidating non-gang owners'
    work on fewer GPUs (default 80 %). min_held_gpu_hours: GPU-hours a device must be held in
    the window to be judged (default 1). gang_kinds: owners whose pods only lose unused devices
    (PyTorchJob, JobSet, MPIJob, TFJob, RayJob, LeaderWorkerSet)."""

    unused_active_share_pct: float = 5.0
    target_util_pct: float = 80.0
    min_held_gpu_hours: float = 1.0
    gang_kinds: tuple[str, ...] = GANG_KINDS


def find(con: duckdb.DuckDBPyConnection, window: Window, params: Params) -> list[Finding]:
    out = []
    unused_share = params.unused_active_share_pct / 100.0
    for ctx in job_contexts(con, window):
        by_id = {d.device_id: d for d in ctx.devices if d.mig_profile is None}
        pods = [p for p in ctx.pods if not p.mig_profile and (p.gpu_request or len(p.devices)) >= 2]
        if not pods or not by_id:
            continue
        gang = ctx.owner_kind in params.gang_kinds
        plans, ok = [], True
        for p in pods:
            devs = [by_id[i] for i in p.devices if i in by_id]
            if len(devs) < 2 or any(d.gpu_hours < params.min_held_gpu_hours for d in devs):
                ok = False
                break
            unused = [d for d in devs if d.active_share <= unused_share]
            needed = len(devs) - len(unused)
            if not gang:
                work = sum(d.util_avg_pct or 0.0 for d in devs)
                needed = min(needed, math.ceil(round(work / params.target_util_pct, 9)))
            plans.append((p, devs, unused, max(1, needed)))
        if not ok or not plans:
            continue
        k = min(len(devs) - needed for _, devs, _, needed in plans)
        if k < 1:
            continue
        dropped = {}
        for _, devs, _, _ in plans:
            for d in sorted(devs, key=lambda d: (d.active_share, d.util_avg_pct or 0.0, d.device_id))[:k]:
                dropped[d.device_key] = d
        n = max(len(devs) for _, devs, _, _ in plans)
        new = n - k
        all_unused = all(d.active_share <= unused_share for d in dropped.values())
        model = ctx.main_model()[0] or "GPU"
        action = (f"Request {new} instead of {n} GPUs per pod for {ctx.owner_kind} {ctx.owner_name}: "
                  f"{k} of its {model} GPUs per pod were " + ("never active." if all_unused else
                                                               "not needed for the work done."))
        rec_id = ctx.rec_id(KIND, window)
        patch = patches.join([
            ctx.patch(con, window, KIND, action, limits={"nvidia.com/gpu": new}),
            patches.claim_template(rec_id, action, f"{ctx.owner_name}-gpus", ctx.namespace, request="gpus",
                                   device_class="gpu.nvidia.com", count=new,
                                   selectors=[patches.product_selector(model)] if model != "GPU" else []),
        ])
        out.append(Finding(
            kind=KIND, target=ctx.target, cluster=ctx.cluster, namespace=ctx.namespace, team=ctx.team,
            action=action, confidence="high" if all_unused else "medium", patch=patch,
            claim=DeviceClaim(ctx.key, {d.device_key: (d.cost_usd, d.gpu_hours) for d in dropped.values()}),
            evidence={"job": ctx.name, "owner_kind": ctx.owner_kind, "gpus_per_pod": n, "recommended_gpus": new,
                      "pods": len(plans), "gang_scheduled": gang,
                      "device_active_share_pct": {d.device_id: 100 * d.active_share
                                                  for _, devs, _, _ in plans for d in devs},
                      "dropped_devices": sorted(d.device_id for d in dropped.values()),
                      "dropped_cost_usd": sum(d.cost_usd for d in dropped.values()),
                      "job_cost_usd": ctx.cost_usd,
                      "unused_active_share_pct": params.unused_active_share_pct,
                      "device_util_avg_pct": {d.device_id: d.util_avg_pct for _, devs, _, _ in plans for d in devs},
                      "target_util_pct": params.target_util_pct}))
    return out
