"""smaller-gpu: move a job to a cheaper instance type whose GPUs still fit it.

Data: per job, its whole-GPU devices (usage_hourly: model, instance type, capacity type,
memory peak), hourly utilisation p95 ``u``, pod GPU/CPU/memory requests (raw_pod_allocations),
and the instance catalog (ingest/data/aws_gpu_instances.csv: GPU model/count/memory, vCPU,
RAM, us-east-1 list price).

A target instance type T fits the job's main instance type S when: T has NVIDIA GPUs with a
known throughput, is not in ``exclude_families``; T has at least the pod's GPU count; GPU
memory >= peak x ``mem_headroom``; u x TFLOPS(S) / TFLOPS(T) <= ``max_target_util_pct``
(dense FP16 Tensor TFLOPS, reference.py); and, when the pod's CPU/memory requests are known,
T's vCPU and RAM per GPU x the pod's GPUs cover them.
T's GPU model differs from S's (a smaller instance of the same GPU is repacking, not this).
Price of a GPU-hour on a type: list price / GPU count (what the bill charges per GPU); for
spot nodes both prices are scaled by (1 - Spot Advisor saving).
Ratio r = price(T) / price(S) of the cheapest fitting T; a record needs r <= 1 -
``min_saving_pct``/100. Saving (window) = (1 - r) x the job's remaining cost on S's devices
(its GPU share of the node price: a conservative part of the bill's change); no GPU-hours
saved (as many, cheaper). Confidence: medium; low when the target GPU has less throughput.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from gpucost.analytics.recommend.facts import percentile
from gpucost.analytics.recommend.jobs import hourly_util, job_contexts
from gpucost.analytics.recommend.model import Finding, FractionClaim, Window
from gpucost.analytics.recommend.reference import MIB, dense_tflops, nvidia_instance_types, spot_advisor

KIND = "smaller-gpu"
PRECEDENCE = 40
GROUP = "device-shape"


@dataclass(frozen=True)
class Params:
    """mem_headroom: factor on peak GPU memory (default 1.2). max_target_util_pct: p95
    utilisation scaled to the target GPU at most this (default 80 %). min_saving_pct: least
    price cut per GPU-hour worth a move (default 10 %). min_held_gpu_hours: GPU-hours in the window
    (default 4). exclude_families: catalog families never proposed (default g5g: Arm CPUs)."""

    mem_headroom: float = 1.2
    max_target_util_pct: float = 80.0
    min_saving_pct: float = 10.0
    min_held_gpu_hours: float = 4.0
    exclude_families: tuple[str, ...] = ("g5g",)


def gpu_price(it, spot_saving_pct: float = 0.0) -> float:
    """USD per GPU-hour of an instance type: list price x (1 - spot saving) / GPU count."""
    return it.usd_per_hour * (1 - spot_saving_pct / 100.0) / it.device_count


def find(con: duckdb.DuckDBPyConnection, window: Window, params: Params) -> list[Finding]:
    types = {k: v for k, v in nvidia_instance_types().items()
             if v.family not in params.exclude_families and dense_tflops(v.device_model)}
    advice = spot_advisor()
    util = hourly_util(con, window)
    out = []
    for ctx in job_contexts(con, window):
        if ctx.gpu_hours < params.min_held_gpu_hours or not ctx.pods or any(p.mig_profile for p in ctx.pods):
            continue
        whole = [d for d in ctx.devices if d.mig_profile is None]
        hours: dict[str, float] = {}
        for d in whole:
            hours[d.instance_type] = hours.get(d.instance_type, 0.0) + d.gpu_hours
        if not hours:
            continue
        source_type = min(hours, key=lambda t: (-hours[t], t or ""))
        source = types.get(source_type)
        devs = [d for d in whole if d.instance_type == source_type]
        p95 = percentile(util.get(ctx.key, []), 95)
        peak = max((d.mem_peak_bytes for d in devs if d.mem_peak_bytes is not None), default=None)
        if source is None or p95 is None or peak is None:
            continue
        spot = all(d.capacity_type == "spot" for d in devs)
        n = max(ctx.gpus_per_pod, 1)
        cpu = max((p.cpu_request_cores or 0.0 for p in ctx.pods), default=0.0)
        mem = max((p.memory_request_bytes or 0 for p in ctx.pods), default=0)

        def saving(t) -> float | None:
            return advice[t.instance_type].savings_pct if spot and t.instance_type in advice else (0.0 if not spot else None)

        src_saving = saving(source)
        if src_saving is None:
            continue
        src_price = gpu_price(source, src_saving)
        src_tflops = dense_tflops(source.device_model)
        options = []
        for t in types.values():
            if t.device_model == source.device_model or t.device_count < n or t.device_memory_mib is None:
                continue
            if t.device_memory_mib * MIB < peak * params.mem_headroom:
                continue
            scaled = p95 * src_tflops / dense_tflops(t.device_model)
            if scaled > params.max_target_util_pct:
                continue
            if cpu > t.vcpu / t.device_count * n or mem > t.memory_mib * MIB / t.device_count * n:
                continue
            t_saving = saving(t)
            if t_saving is None or src_price <= 0:
                continue
            ratio = gpu_price(t, t_saving) / src_price
            options.append((ratio, t.instance_type, t, scaled))
        if not options:
            continue
        ratio, _, best, scaled = min(options)
        if ratio > 1 - params.min_saving_pct / 100.0:
            continue
        slower = dense_tflops(best.device_model) < src_tflops
        action = (f"Run {ctx.owner_kind} {ctx.owner_name} on {best.instance_type} ({best.device_model}) instead of "
                  f"{source_type} ({source.device_model}): {100 * (1 - ratio):.0f} % less per GPU-hour; peak memory "
                  f"{peak / 2**30:.1f} GiB, p95 utilisation {p95:.0f} % ({scaled:.0f} % on the target).")
        patch = ctx.patch(con, window, KIND, action, node_selector={"node.kubernetes.io/instance-type": best.instance_type})
        out.append(Finding(
            kind=KIND, target=ctx.target, cluster=ctx.cluster, namespace=ctx.namespace, team=ctx.team,
            action=action, confidence="low" if slower else "medium", patch=patch,
            claim=FractionClaim(ctx.key, 1.0 - ratio, frozenset(d.device_key for d in devs), group=GROUP),
            evidence={"job": ctx.name, "owner_kind": ctx.owner_kind, "from_instance_type": source_type,
                      "to_instance_type": best.instance_type, "from_gpu_model": source.device_model,
                      "to_gpu_model": best.device_model, "capacity_type": "spot" if spot else "on_demand",
                      "usd_per_gpu_hour_from": src_price, "usd_per_gpu_hour_to": gpu_price(best, saving(best)),
                      "price_ratio": ratio, "util_p95_pct": p95, "util_p95_on_target_pct": scaled,
                      "mem_peak_bytes": peak, "gpus_per_pod": n, "job_cost_usd": ctx.cost_usd,
                      "price_source": "catalog list price (us-east-1), Spot Advisor for spot"}))
    return out
