"""share: run a low-utilisation, low-memory workload on a slice of a GPU.

Data: per job, its devices (usage_hourly: GPU model, MIG profile, memory peak and total) and
its hourly utilisation (GPU-hour weighted over its devices). Jobs whose pods hold one whole
GPU or one MIG slice, observed at least ``min_held_gpu_hours``, whose hourly utilisation p95
(``u``, % of the device they hold) is at most ``max_util_p95_pct``.

MIG-capable models (A100 40GB/80GB, H100 80GB, H200 141GB; profiles in reference.py):
  the smallest profile P with memory >= peak memory x ``mem_headroom`` and compute share
  slices/7 >= u/100 x current share x ``compute_headroom`` (current share: 1 for a whole
  GPU, slices/7 of the slice held). Saving fraction f = 1 - share(P) / current share, when > 0.
Other models (A10G, L4, T4, L40S, ...): time-slicing with
  k = min(``max_time_slicing_replicas``, floor(device memory / (peak x mem_headroom)),
  floor(100 / (u x compute_headroom))) replicas per GPU, k >= 2; f = 1 - 1/k.
Saving (window) = f x the job's remaining cost on those devices; GPU-hours saved = f x their
remaining GPU-hours (the rest of the GPU serves others). MIG: confidence high when u is at most
half the limit, else medium; time-slicing (no memory or fault isolation): low.
share and smaller-gpu are alternatives: a job keeps the first that applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb

from gpucost.analytics.recommend import patches
from gpucost.analytics.recommend.facts import percentile
from gpucost.analytics.recommend.jobs import hourly_util, job_contexts
from gpucost.analytics.recommend.model import Finding, FractionClaim, Window
from gpucost.analytics.recommend.reference import MIB, mig_model_key, mig_profiles, profile_by_name

KIND = "share"
PRECEDENCE = 30
GROUP = "device-shape"


@dataclass(frozen=True)
class Params:
    """max_util_p95_pct: p95 of hourly utilisation (% of the device held) at most this
    (default 30 %). mem_headroom: factor on peak memory (default 1.2). compute_headroom:
    factor on p95 utilisation (default 1.25). max_time_slicing_replicas: (default 4).
    min_held_gpu_hours: GPU-hours a job must hold in the window (default 4)."""

    max_util_p95_pct: float = 30.0
    mem_headroom: float = 1.2
    compute_headroom: float = 1.25
    max_time_slicing_replicas: int = 4
    min_held_gpu_hours: float = 4.0


def find(con: duckdb.DuckDBPyConnection, window: Window, params: Params) -> list[Finding]:
    util = hourly_util(con, window)
    out = []
    for ctx in job_contexts(con, window):
        if ctx.gpu_hours < params.min_held_gpu_hours or not ctx.pods:
            continue
        if any(not p.mig_profile and (p.gpu_request or len(p.devices)) != 1 for p in ctx.pods):
            continue
        model, devs = ctx.main_model()
        p95 = percentile(util.get(ctx.key, []), 95)
        peak = max((d.mem_peak_bytes for d in devs if d.mem_peak_bytes is not None), default=None)
        if model is None or p95 is None or peak is None or p95 > params.max_util_p95_pct:
            continue
        mem_total = max((d.mem_total_bytes or 0) for d in devs)
        mem_need = peak * params.mem_headroom
        profile = devs[0].mig_profile
        key = mig_model_key(model, mem_total)
        current = profile_by_name(key, profile) if key and profile else None
        current_share = current.fraction if current else 1.0
        evidence = {"job": ctx.name, "owner_kind": ctx.owner_kind, "gpu_model": model,
                    "current_mig_profile": profile, "util_p95_pct": p95, "mem_peak_bytes": peak,
                    "mem_needed_bytes": mem_need, "job_cost_usd": ctx.cost_usd, "held_gpu_hours": ctx.gpu_hours}
        rec_id = ctx.rec_id(KIND, window)
        if key:
            compute_need = p95 / 100.0 * current_share * params.compute_headroom
            fits = [p for p in mig_profiles(key) if p.memory_mib * MIB >= mem_need and p.fraction >= compute_need]
            if not fits:
                continue
            best = min(fits, key=lambda p: (p.slices, p.memory_mib))
            fraction = 1.0 - best.fraction / current_share
            if fraction <= 1e-9:
                continue
            action = (f"Move {ctx.owner_kind} {ctx.owner_name} to a MIG {best.name} slice of {model}: "
                      f"p95 utilisation {p95:.0f} %, peak memory {peak / 2**30:.1f} GiB.")
            resource = f"nvidia.com/mig-{best.name}"
            drop = [f"nvidia.com/mig-{profile}"] if profile else ["nvidia.com/gpu"]
            patch = patches.join([
                ctx.patch(con, window, KIND, action, limits={resource: 1}, drop_limits=drop),
                patches.claim_template(rec_id, action, f"{ctx.owner_name}-mig", ctx.namespace, request="mig",
                                       device_class="mig.nvidia.com", count=1,
                                       selectors=[patches.profile_selector(best.name)]),
            ])
            confidence = "high" if p95 <= params.max_util_p95_pct / 2 else "medium"
            evidence |= {"method": "mig", "mig_profile": best.name, "mig_compute_slices": best.slices,
                         "mig_memory_mib": best.memory_mib, "mig_memory_nominal": best.nominal,
                         "profile_table": "NVIDIA MIG User Guide, Supported MIG Profiles"}
        else:
            if not mem_total:
                continue
            by_mem = math.floor(mem_total / mem_need) if mem_need > 0 else params.max_time_slicing_replicas
            by_util = math.floor(100.0 / (p95 * params.compute_headroom)) if p95 > 0 else params.max_time_slicing_replicas
            k = min(params.max_time_slicing_replicas, by_mem, by_util)
            if k < 2:
                continue
            fraction = 1.0 - 1.0 / k
            action = (f"Share {model} GPUs of {ctx.owner_kind} {ctx.owner_name} by time-slicing "
                      f"({k} replicas per GPU): p95 utilisation {p95:.0f} %, peak memory {peak / 2**30:.1f} GiB.")
            patch = ctx.patch(con, window, KIND, action + "\nNeeds the device plugin's sharing.timeSlicing "
                              f"config with replicas: {k} on the target nodes.",
                              node_selector={"nvidia.com/gpu.sharing-strategy": "time-slicing"})
            confidence = "low"
            evidence |= {"method": "time-slicing", "replicas_per_gpu": k}
        out.append(Finding(
            kind=KIND, target=ctx.target, cluster=ctx.cluster, namespace=ctx.namespace, team=ctx.team,
            action=action, confidence=confidence, patch=patch,
            claim=FractionClaim(ctx.key, fraction, frozenset(d.device_key for d in devs),
                                frees_gpu_hours=True, group=GROUP),
            evidence=evidence | {"saving_fraction": fraction}))
    return out
