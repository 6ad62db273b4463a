"""kube-state-metrics series (per step) and DCGM observations into raw_nodes,
raw_gpu_devices and raw_pod_allocations rows for one window.

Nodes (raw_nodes): a node exists at the steps where kube_node_info or kube_node_labels has
a point; rows are runs of steps with constant attributes. From the labels (kube-state-
metrics only exports labels in its --metric-labels-allowlist): instance type
(node.kubernetes.io/instance-type, else the beta label), capacity type from Karpenter's
karpenter.sh/capacity-type or EKS' eks.amazonaws.com/capacityType (GKE spot/preemptible and
AKS scalesetpriority too) mapped to 'spot' / 'on_demand' (reserved capacity and capacity
blocks count as 'on_demand'), region/zone from topology.kubernetes.io/*. gpu_model: the
DCGM modelName of the node's GPUs when seen (the same spelling devices carry), else
nvidia.com/gpu.product. gpu_count (physical GPUs): GFD's nvidia.com/gpu.count, else the
distinct GPU UUIDs DCGM saw on the node, else kube_node_status_capacity nvidia_com_gpu
divided by nvidia.com/gpu.replicas (time-slicing). Nodes with no GPU are not written.

Devices (raw_gpu_devices): each device DCGM saw; it exists for the node's runs that
overlap its first..last sample (telemetry gaps inside do not remove it), or from its first
to its last sample when kube-state-metrics does not know the node. mem_total_bytes is the
largest FB_USED + FB_FREE seen (MiB x 1048576).

Pods (raw_pod_allocations): pods that request nvidia.com/gpu or nvidia.com/mig-* or hold a
DRA claim (kube_pod_info is queried for those only), plus pods DCGM saw on a device. A pod
holds its GPUs at the steps where kube_pod_info places it on a node and it has not
terminated (kube_pod_status_phase Succeeded/Failed for the whole step), and at the steps
DCGM saw it between its first and last sighting. devices: every device DCGM saw the pod on
in the window; NULL when it was never seen (an exporter without pod mapping, or a pod
whose GPUs sent no telemetry): such a pod keeps its row with gpu_request, so the build
knows the node is held but cannot tell which device. owner: the top owner - a ReplicaSet
resolves through kube_replicaset_owner (Deployment, Rollout, ...), a Job through
kube_job_owner (CronJob, JobSet, ...); StatefulSets have no owner metric in
kube-state-metrics, so e.g. a Kubeflow Notebook's pods resolve to its StatefulSet (same
name). labels: the pod's labels, completed by its namespace's labels for keys it lacks.
Label keys come back from kube-state-metrics' sanitised names (label_node_kubernetes_io_...)
for the keys gpucost reads (KNOWN_LABEL_KEYS plus the configured job and team labels);
other keys stay in sanitised form without the 'label_' prefix. cpu_request_cores and
memory_request_bytes: the pod's requests summed over its containers (null when unknown).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Hashable, Iterable

import numpy as np
import pyarrow as pa

from gpucost.ingest.prometheus.dcgm import DcgmWindow, unique
from gpucost.ingest.prometheus.matrix import Matrix
from gpucost.ingest.prometheus.windows import Grid, from_ms

TS = pa.timestamp("us")
MAP = pa.map_(pa.string(), pa.string())
KNOWN_LABEL_KEYS = (
    "node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type",
    "topology.kubernetes.io/region", "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
    "karpenter.sh/capacity-type", "karpenter.sh/nodepool", "eks.amazonaws.com/capacityType",
    "eks.amazonaws.com/nodegroup", "cloud.google.com/gke-spot", "cloud.google.com/gke-preemptible",
    "kubernetes.azure.com/scalesetpriority", "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os",
    "nvidia.com/gpu.product", "nvidia.com/gpu.count", "nvidia.com/gpu.memory", "nvidia.com/gpu.replicas",
    "nvidia.com/gpu.sharing-strategy", "nvidia.com/gpu.clique", "nvidia.com/gpu.present",
    "nvidia.com/mig.config", "nvidia.com/mig.strategy", "nvidia.com/mig.capable", "nvidia.com/mig.config.state",
    "nvidia.com/vgpu.present", "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/part-of",
    "app", "team", "statefulset.kubernetes.io/pod-name", "batch.kubernetes.io/job-name", "job-name",
)
CAPACITY_TYPES = {"spot": "spot", "on-demand": "on_demand", "on_demand": "on_demand", "reserved": "on_demand",
                  "capacity_block": "on_demand"}


def sanitize(key: str) -> str:
    """kube-state-metrics' Prometheus label name for a Kubernetes label key (without 'label_')."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def label_restorer(extra: Iterable[str] = ()) -> Callable[[dict[str, str]], dict[str, str]]:
    """Maps a series' label_* labels to {original key: value} for known keys."""
    known = {sanitize(k): k for k in (*KNOWN_LABEL_KEYS, *[e for e in extra if e])}

    def restore(labels: dict[str, str]) -> dict[str, str]:
        return {known.get(k[6:], k[6:]): v for k, v in labels.items() if k.startswith("label_") and v != ""}
    return restore


@dataclass
class Steps:
    """Per entity, a code per step (-1: absent) into `attrs`."""

    codes: dict[Hashable, np.ndarray] = field(default_factory=dict)
    attrs: list = field(default_factory=list)

    def get(self, key: Hashable, n: int) -> np.ndarray:
        return self.codes.get(key, np.full(n, -1, np.int32))

    def attr(self, code: int):
        return None if code < 0 else self.attrs[code]


def per_step(m: Matrix, grid: Grid, key_of: Callable[[dict], Hashable | None],
             attr_of: Callable[[dict, float], Hashable | None]) -> Steps:
    """Series of a per-step query grouped by entity; where one entity has several series at
    a step, the series that appeared last wins (a label change mid-step)."""
    out = Steps()
    if not m.labels:
        return out
    k = (m.ts - grid.eval_ms(0)) // grid.step_ms
    order = np.argsort(m.series, kind="stable")
    bounds = np.searchsorted(m.series[order], np.arange(len(m.labels) + 1))
    series = []
    for i, lab in enumerate(m.labels):
        idx = order[bounds[i]:bounds[i + 1]]
        key = key_of(lab)
        if key is None or not len(idx):
            continue
        series.append((int(k[idx].min()), i, key, idx))
    index: dict = {}
    for _, i, key, idx in sorted(series, key=lambda s: (s[0], s[1])):
        row = out.codes.get(key)
        if row is None:
            row = out.codes[key] = np.full(grid.n, -1, np.int32)
        for v in unique(m.values[idx]):
            attr = attr_of(m.labels[i], float(v))
            code = index.get(attr)
            if code is None:
                code = index[attr] = len(out.attrs)
                out.attrs.append(attr)
            sel = idx[m.values[idx] == v]
            row[k[sel]] = code
    return out


def runs(present: np.ndarray, codes: list[np.ndarray]) -> list[tuple[int, int]]:
    """[a, b) runs of present steps with constant codes."""
    if not present.any():
        return []
    change = np.zeros(len(present), bool)
    change[0] = True
    change[1:] = present[1:] != present[:-1]
    for c in codes:
        change[1:] |= c[1:] != c[:-1]
    starts = np.flatnonzero(change)
    ends = np.append(starts[1:], len(present))
    return [(int(a), int(b)) for a, b in zip(starts, ends) if present[a]]


def _fill(steps: Iterable[int], n: int) -> np.ndarray:
    seen = np.zeros(n, bool)
    steps = list(steps)
    if steps:
        seen[min(steps):max(steps) + 1] = True
    return seen


def _ts(grid: Grid, k: int) -> datetime:
    return from_ms(grid.step_start(int(k)))


@dataclass
class KubeWindow:
    nodes: pa.Table
    devices: pa.Table
    pods: pa.Table
    node_count: int = 0
    dcgm_only_nodes: list[str] = field(default_factory=list)
    pods_without_devices: int = 0


def capacity_type(labels: dict[str, str]) -> str | None:
    for key in ("karpenter.sh/capacity-type", "eks.amazonaws.com/capacityType"):
        if labels.get(key):
            return CAPACITY_TYPES.get(labels[key].lower(), None)
    if labels.get("cloud.google.com/gke-spot") == "true" or labels.get("cloud.google.com/gke-preemptible") == "true":
        return "spot"
    if labels.get("kubernetes.azure.com/scalesetpriority") == "spot":
        return "spot"
    return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None


def mig_profile(resource: str) -> str:
    """'nvidia_com_mig_1g_10gb_me' -> '1g.10gb+me' (kube-state-metrics' resource name back to
    the MIG profile of nvidia.com/mig-<profile>)."""
    rest = resource[len("nvidia_com_mig_"):]
    suffix = ""
    if rest.endswith("_me"):
        rest, suffix = rest[:-3], "+me"
    return rest.replace("_", ".") + suffix


def kube_window(ksm: dict[str, Matrix], owners: dict[str, Matrix], dcgm: DcgmWindow, grid: Grid,
                cluster: str, extra_label_keys: Iterable[str] = ()) -> KubeWindow:
    n = grid.n
    restore = label_restorer(extra_label_keys)
    empty = Matrix.empty()

    # -- nodes ----------------------------------------------------------------------------------
    info = per_step(ksm.get("node_info", empty), grid, lambda l: l.get("node") or None,
                    lambda l, v: l.get("provider_id") or None)
    nlabels = per_step(ksm.get("node_labels", empty), grid, lambda l: l.get("node") or None,
                       lambda l, v: tuple(sorted(restore(l).items())))
    cap = per_step(ksm.get("node_capacity", empty), grid,
                   lambda l: (l.get("node"), l.get("resource")) if l.get("node") else None, lambda l, v: v)
    dev_by_node: dict[str, list] = {}
    for obs in dcgm.devices.values():
        dev_by_node.setdefault(obs.identity.node, []).append(obs)
    node_names = sorted(set(info.codes) | set(nlabels.codes))
    node_rows: list[dict] = []
    node_runs: dict[str, list[tuple[int, int]]] = {}
    for node in node_names:
        ci, cl = info.get(node, n), nlabels.get(node, n)
        ccpu, cmem, cgpu = (cap.get((node, r), n) for r in ("cpu", "memory", "nvidia_com_gpu"))
        present = (ci >= 0) | (cl >= 0)
        seen = dev_by_node.get(node, [])
        models = Counter(o.identity.model for o in seen if o.identity.model and o.identity.mig_id is None)
        models.update(o.identity.model for o in seen if o.identity.model and not models)
        dcgm_model = models.most_common(1)[0][0] if models else None
        dcgm_gpus = len({o.identity.uuid for o in seen})
        for a, b in runs(present, [ci, cl, ccpu, cmem, cgpu]):
            labels = dict(nlabels.attr(cl[a]) or ())
            replicas = _int(labels.get("nvidia.com/gpu.replicas")) or 1
            gpu_cap = cap.attr(cgpu[a])
            gpus = _int(labels.get("nvidia.com/gpu.count")) or dcgm_gpus or (
                int(gpu_cap // replicas) if gpu_cap else 0)
            if not gpus:
                continue
            node_runs.setdefault(node, []).append((a, b))
            cpu, mem = cap.attr(ccpu[a]), cap.attr(cmem[a])
            node_rows.append({
                "node": node, "valid_from": _ts(grid, a), "valid_to": _ts(grid, b),
                "instance_type": labels.get("node.kubernetes.io/instance-type")
                or labels.get("beta.kubernetes.io/instance-type"),
                "capacity_type": capacity_type(labels),
                "region": labels.get("topology.kubernetes.io/region")
                or labels.get("failure-domain.beta.kubernetes.io/region"),
                "zone": labels.get("topology.kubernetes.io/zone")
                or labels.get("failure-domain.beta.kubernetes.io/zone"),
                "gpu_model": dcgm_model or labels.get("nvidia.com/gpu.product"),
                "gpu_count": gpus, "cpu_cores": cpu, "memory_bytes": None if mem is None else int(mem),
                "provider_id": info.attr(ci[a]), "labels": list(labels.items()),
            })
    nodes = pa.Table.from_pylist(node_rows, schema=pa.schema([
        ("node", pa.string()), ("valid_from", TS), ("valid_to", TS), ("instance_type", pa.string()),
        ("capacity_type", pa.string()), ("region", pa.string()), ("zone", pa.string()),
        ("gpu_model", pa.string()), ("gpu_count", pa.int32()), ("cpu_cores", pa.float64()),
        ("memory_bytes", pa.int64()), ("provider_id", pa.string()), ("labels", MAP)]))
    nodes = nodes.append_column("cluster", pa.array([cluster] * nodes.num_rows, pa.string()))

    # -- devices --------------------------------------------------------------------------------
    dev_rows = []
    for obs in dcgm.devices.values():
        i = obs.identity
        spans = [(a, b) for a, b in node_runs.get(i.node, []) if a <= obs.last and b > obs.first]
        if not spans:
            spans = [(obs.first, obs.last + 1)]
        for a, b in spans:
            dev_rows.append({
                "node": i.node, "valid_from": _ts(grid, a), "valid_to": _ts(grid, b), "device_id": i.device_id,
                "gpu_index": i.gpu_index, "gpu_uuid": i.uuid, "gpu_model": i.model, "mig_instance_id": i.mig_id,
                "mig_profile": i.mig_profile,
                "mem_total_bytes": None if obs.mem_mib is None else int(round(obs.mem_mib)) * 1048576})
    devices = pa.Table.from_pylist(dev_rows, schema=pa.schema([
        ("node", pa.string()), ("valid_from", TS), ("valid_to", TS), ("device_id", pa.string()),
        ("gpu_index", pa.int32()), ("gpu_uuid", pa.string()), ("gpu_model", pa.string()),
        ("mig_instance_id", pa.int32()), ("mig_profile", pa.string()), ("mem_total_bytes", pa.int64())]))
    devices = devices.append_column("cluster", pa.array([cluster] * devices.num_rows, pa.string()))

    # -- pods -----------------------------------------------------------------------------------
    def pod_key(l: dict) -> tuple[str, str] | None:
        return (l["namespace"], l["pod"]) if l.get("namespace") and l.get("pod") else None

    pinfo = per_step(ksm.get("pod_info", empty), grid, pod_key, lambda l, v: l.get("node") or None)
    term = per_step(ksm.get("pod_terminated", empty), grid, pod_key, lambda l, v: True)
    req = per_step(ksm.get("pod_requests", empty), grid,
                   lambda l: (*pod_key(l), l.get("resource")) if pod_key(l) else None, lambda l, v: v)
    rs_owner = _owner_map(owners.get("replicaset_owner", empty), "replicaset")
    job_owner = _owner_map(owners.get("job_owner", empty), "job_name")
    ns_labels = {l.get("namespace"): restore(l) for l in owners.get("namespace_labels", empty).labels}

    def top_owner(l: dict, v: float):
        kind, name = l.get("owner_kind") or "", l.get("owner_name") or ""
        if kind in ("", "<none>"):
            return (None, None)
        up = {"ReplicaSet": rs_owner, "Job": job_owner}.get(kind, {}).get((l.get("namespace"), name))
        return up if up else (kind, name)

    powner = per_step(ksm.get("pod_owner", empty), grid, pod_key, top_owner)
    plabels = per_step(ksm.get("pod_labels", empty), grid, pod_key, lambda l, v: tuple(sorted(restore(l).items())))
    resources_of: dict[tuple[str, str], list[str]] = {}
    for key in req.codes:
        resources_of.setdefault(key[:2], []).append(key[2])
    pod_rows = []
    without = 0
    placed = np.array([i for i, a in enumerate(pinfo.attrs) if a is not None], np.int32)  # node label set
    for key in sorted(set(pinfo.codes) | set(dcgm.pods)):
        ns, pod = key
        obs = dcgm.pods.get(key)
        cn = pinfo.get(key, n)
        on_node = np.isin(cn, placed) & (term.get(key, n) < 0)
        seen = _fill(obs.steps, n) if obs else np.zeros(n, bool)
        present = on_node | seen
        rs = sorted(resources_of.get(key, []))
        rcodes = [req.get((ns, pod, r), n) for r in rs]
        co, cl = powner.get(key, n), plabels.get(key, n)
        devices_held = sorted(obs.devices) if obs else None
        if devices_held is None:
            without += 1
        for a, b in runs(present, [cn, co, cl, *rcodes]):
            node = pinfo.attr(cn[a]) or (obs.node if obs else None)
            if node is None:
                continue
            requests = {r: req.attr(c[a]) for r, c in zip(rs, rcodes)}
            gpu = requests.get("nvidia_com_gpu")
            migs = sorted(mig_profile(r) for r, v in requests.items() if r.startswith("nvidia_com_mig_") and v)
            owner = powner.attr(co[a]) or (None, None)
            labels = dict(ns_labels.get(ns, {}))
            labels.update(dict(plabels.attr(cl[a]) or ()))
            pod_rows.append({
                "namespace": ns, "pod": pod, "node": node, "valid_from": _ts(grid, a), "valid_to": _ts(grid, b),
                "gpu_request": int(gpu) if gpu else None, "mig_profile": ",".join(migs) or None,
                "devices": devices_held, "owner_kind": owner[0], "owner_name": owner[1],
                "labels": list(labels.items()) if (labels or cl[a] >= 0) else None,
                "cpu_request_cores": requests.get("cpu"),
                "memory_request_bytes": int(requests["memory"]) if requests.get("memory") is not None else None})
    pods = pa.Table.from_pylist(pod_rows, schema=pa.schema([
        ("namespace", pa.string()), ("pod", pa.string()), ("node", pa.string()), ("valid_from", TS),
        ("valid_to", TS), ("gpu_request", pa.int32()), ("mig_profile", pa.string()),
        ("devices", pa.list_(pa.string())), ("owner_kind", pa.string()), ("owner_name", pa.string()),
        ("labels", MAP), ("cpu_request_cores", pa.float64()), ("memory_request_bytes", pa.int64())]))
    pods = pods.append_column("cluster", pa.array([cluster] * pods.num_rows, pa.string()))
    known_nodes = set(node_runs)
    return KubeWindow(nodes, devices, pods, len(known_nodes),
                      sorted(set(dev_by_node) - known_nodes), without)


def _owner_map(m: Matrix, name_label: str) -> dict[tuple[str, str], tuple[str, str]]:
    out = {}
    for l in m.labels:
        kind, name = l.get("owner_kind") or "", l.get("owner_name") or ""
        if kind and kind != "<none>" and l.get(name_label):
            out[(l.get("namespace"), l[name_label])] = (kind, name)
    return out


def claim_pods(m: Matrix) -> dict[tuple[str, str], tuple[str, str]]:
    """(namespace, ResourceClaim name) -> (namespace, pod) from kube_pod_resourceclaim_info."""
    out = {}
    for l in m.labels:
        if l.get("resourceclaim_name") and l.get("pod"):
            out[(l.get("namespace", ""), l["resourceclaim_name"])] = (l.get("namespace", ""), l["pod"])
    return out
