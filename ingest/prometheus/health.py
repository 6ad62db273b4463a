"""What `gpucost doctor` checks on a Prometheus: the data the collector needs is there.

Looks at the `lookback` (default 10 minutes) before `at` (default now):
- reachable, and its version;
- dcgm-exporter: which DCGM_FI_* fields exist (of the 8 stored ones and the catalogue),
  node label (Hostname or hostname), pod mapping labels, MIG instances, vGPU and DRA labels,
  and the scrape interval (from samples per series);
- kube-state-metrics: the families the collector reads, node labels exported
  (--metric-labels-allowlist), GPU requests.
Problems (the collection would be wrong or empty) fail the doctor; warnings degrade it.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from gpucost.errors import GpucostError
from gpucost.ingest.prometheus.client import PromClient
from gpucost.ingest.prometheus.queries import (ACTIVITY_FIELD, DOCTOR_DCGM_FIELDS, DOCTOR_DCGM_SERIES,
                                               DOCTOR_GPU_REQUESTS, DOCTOR_KSM_FAMILIES, DOCTOR_NODE_LABELS,
                                               DOCTOR_SAMPLES_PER_SERIES, FALLBACK_ACTIVITY_FIELD, FIELDS_BY_NAME,
                                               STORED_FIELDS, duration, render)

OK, INFO, WARNING, PROBLEM = "ok", "info", "warning", "problem"
REQUIRED_KSM = ("kube_node_info", "kube_pod_info", "kube_pod_container_resource_requests")


@dataclass(frozen=True)
class Finding:
    level: str
    message: str


def check_prometheus(client: PromClient, selector: str = "", at: float | None = None,
                     lookback_s: int = 600, step_s: int = 60) -> list[Finding]:
    out: list[Finding] = []
    rng = duration(lookback_s * 1000)
    try:
        info = client.buildinfo()
    except GpucostError as exc:
        return [Finding(PROBLEM, f"Prometheus not reachable: {exc}")]
    out.append(Finding(OK, f"Prometheus {client.base} reachable"
                       + (f", version {info.get('version')}" if info else " (no buildinfo)")))

    def q(template: str, what: str, **kw):
        return client.query(render(template, selector, range=rng, **kw), at, what)

    fields = {lab.get("__name__"): int(v) for lab, v in q(DOCTOR_DCGM_FIELDS, "DCGM fields")}
    if not fields:
        out.append(Finding(PROBLEM, f"no DCGM_FI_* series in the last {rng}: is dcgm-exporter scraped?"))
    else:
        stored = [f.name for f in STORED_FIELDS if f.name in fields]
        missing = [f.name for f in STORED_FIELDS if f.name not in fields]
        other = sorted(set(fields) - {f.name for f in STORED_FIELDS})
        known = [f for f in other if f in FIELDS_BY_NAME]
        out.append(Finding(OK, f"DCGM: {len(fields)} fields; stored: {', '.join(stored) or 'none'}"
                           + (f"; also {len(known)} catalogued ({', '.join(known[:6])}"
                              f"{', ...' if len(known) > 6 else ''})" if known else "")
                           + (f"; {len(other) - len(known)} not catalogued" if len(other) > len(known) else "")))
        if missing:
            out.append(Finding(INFO, f"DCGM fields not exported (stored as null): {', '.join(missing)}"))
        if ACTIVITY_FIELD not in fields:
            level = WARNING if FALLBACK_ACTIVITY_FIELD in fields else PROBLEM
            out.append(Finding(level, f"{ACTIVITY_FIELD} missing: activity falls back to {FALLBACK_ACTIVITY_FIELD} "
                                      "(coarser: a GPU counts as busy if any kernel ran in the sample period)"
                               if level == WARNING else
                               f"neither {ACTIVITY_FIELD} nor {FALLBACK_ACTIVITY_FIELD}: no activity, every "
                               "GPU-step becomes no_data"))
        out += _series_findings(q, fields, step_s, rng)
    out += _ksm_findings(q)
    return out


def _series_findings(q, fields: dict, step_s: int, rng: str) -> list[Finding]:
    out = []
    probe = next((f for f in ("DCGM_FI_DEV_FB_USED", ACTIVITY_FIELD, FALLBACK_ACTIVITY_FIELD, "DCGM_FI_DEV_POWER_USAGE")
                  if f in fields), next(iter(fields)))
    series = [lab for lab, _ in q(DOCTOR_DCGM_SERIES, "DCGM series", metric=probe)]
    uuids = {s.get("UUID") for s in series if s.get("UUID")}
    spelling = Counter("Hostname" if "Hostname" in s else "hostname" if "hostname" in s else
                       "node" if s.get("node") else "none" for s in series)
    models = Counter(s.get("modelName", "?") for s in series)
    out.append(Finding(OK, f"{len(uuids)} GPUs on {len({s.get('Hostname') or s.get('hostname') for s in series})} "
                           f"nodes ({', '.join(f'{n} {m}' for m, n in models.most_common(4))}); node label: "
                           + ", ".join(f"{k} ({n})" for k, n in spelling.items())))
    if spelling.get("none"):
        out.append(Finding(PROBLEM, f"{spelling['none']} DCGM series have no Hostname/hostname label: "
                                    "they cannot be placed on a node"))
    with_pod = sum(1 for s in series if s.get("pod") or s.get("exported_pod") or s.get("pod_name"))
    if "exported_pod" in {k for s in series for k in s}:
        out.append(Finding(INFO, "pod labels arrive as exported_pod/... (scrape without honor_labels): handled"))
    if not with_pod:
        out.append(Finding(WARNING, "no DCGM series carries pod labels: pods are known from kube-state-metrics "
                                    "but not which GPU they hold (enable dcgm-exporter's Kubernetes pod mapping)"))
    else:
        out.append(Finding(OK, f"pod labels on {with_pod} of {len(series)} {probe} series"))
    mig = [s for s in series if s.get("GPU_I_ID")]
    if mig:
        prof_mig = [lab for lab, _ in q(DOCTOR_DCGM_SERIES, "MIG activity", metric=ACTIVITY_FIELD)
                    if lab.get("GPU_I_ID")] if ACTIVITY_FIELD in fields else []
        if not prof_mig:
            out.append(Finding(PROBLEM, f"{len(mig)} MIG instances but no {ACTIVITY_FIELD} for them: "
                                        f"{FALLBACK_ACTIVITY_FIELD} is unsupported on MIG, so they have no activity"))
        else:
            out.append(Finding(OK, f"{len(mig)} MIG instances with {ACTIVITY_FIELD} "
                                   f"({FALLBACK_ACTIVITY_FIELD} is unsupported on MIG and not used for them)"))
    if any(s.get("vgpu") or str(s.get("modelName", "")).startswith("GRID") for s in series):
        out.append(Finding(INFO, "vGPU devices present (GRID models): costed as the GPUs they report"))
    if any(k.startswith("dra_") for s in series for k in s):
        out.append(Finding(INFO, "DRA labels present (dra_claim_*): claims resolve to pods via "
                                 "kube_pod_resourceclaim_info"))
    counts = [v for _, v in q(DOCTOR_SAMPLES_PER_SERIES, "scrape interval", metric=probe)]
    if counts:
        lookback = _seconds(rng)
        interval = lookback / max(1.0, statistics.median(counts))
        level = WARNING if interval > step_s else OK
        out.append(Finding(level, f"scrape interval about {interval:.0f} s"
                           + (f": longer than the {step_s} s step, steps without a sample become no_data"
                              if level == WARNING else "")))
    return out


def _ksm_findings(q) -> list[Finding]:
    out = []
    families = {lab.get("__name__"): int(v) for lab, v in q(DOCTOR_KSM_FAMILIES, "kube-state-metrics")}
    missing = [f for f in REQUIRED_KSM if f not in families]
    if len(missing) == len(REQUIRED_KSM):
        return [Finding(PROBLEM, "kube-state-metrics not found (no kube_node_info, kube_pod_info, ...): "
                                 "no nodes or pod allocations can be collected")]
    out.append(Finding(OK, f"kube-state-metrics: {len(families)} of the families read "
                           f"({', '.join(sorted(families))})"))
    if missing:
        out.append(Finding(PROBLEM, f"kube-state-metrics lacks {', '.join(missing)}"))
    for optional in ("kube_replicaset_owner", "kube_job_owner", "kube_pod_owner"):
        if optional not in families:
            out.append(Finding(WARNING, f"{optional} missing: pods resolve to fewer owners (jobs by pod name)"))
    if "kube_node_labels" in families:
        labels = [lab for lab, _ in q(DOCTOR_NODE_LABELS, "node labels")]
        if not any(k in lab for lab in labels for k in ("label_node_kubernetes_io_instance_type",
                                                        "label_beta_kubernetes_io_instance_type")):
            out.append(Finding(WARNING, "kube_node_labels has no instance-type label: add node labels to "
                                        "kube-state-metrics' --metric-labels-allowlist (instance type, "
                                        "capacity type, zone, nvidia.com/gpu.*) or nodes cannot be priced"))
    else:
        out.append(Finding(WARNING, "kube_node_labels missing: no instance type, capacity type or zone for nodes"))
    requests = q(DOCTOR_GPU_REQUESTS, "GPU requests")
    if not requests or not requests[0][1]:
        out.append(Finding(WARNING, "no pod requests nvidia.com/gpu or nvidia.com/mig-* right now"))
    return out


def _seconds(d: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    for u in ("ms", "s", "m", "h", "d"):
        if d.endswith(u) and d[: -len(u)].isdigit():
            return int(d[: -len(u)]) * units[u]
    raise ValueError(d)
