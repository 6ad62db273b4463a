"""The simulated world as OpenMetrics text, for `promtool tsdb create-blocks-from openmetrics`.

Same rows as simulate_to_warehouse, as the series Prometheus would have scraped:
- dcgm-exporter: DCGM_FI_DEV_GPU_UTIL, DCGM_FI_PROF_{GR_ENGINE,SM,PIPE_TENSOR,DRAM}_ACTIVE,
  DCGM_FI_DEV_FB_USED/FB_FREE (MiB), DCGM_FI_DEV_POWER_USAGE (W), with labels gpu, UUID,
  pci_bus_id, device, modelName, Hostname, DCGM_FI_DRIVER_VERSION, GPU_I_PROFILE and GPU_I_ID
  (MIG slices) and container/namespace/pod while a pod holds the device (dcgm-exporter's
  pod mapping). Null values (GPU_UTIL on MIG, PROF fields on L4) and telemetry gaps have
  no sample. Values print like the exporter: integers for %/MiB, 6 decimals otherwise.
- kube-state-metrics: kube_node_info (provider_id, internal_ip), kube_node_labels
  (label_<sanitised key>), kube_node_status_capacity (cpu, memory, nvidia_com_gpu and
  nvidia_com_mig_<profile>; a MIG node under the `mixed` strategy advertises 0
  nvidia_com_gpu - its physical count is label_nvidia_com_gpu_count), kube_pod_info,
  kube_pod_owner (the immediate owner: ReplicaSet, Job, PyTorchJob, StatefulSet),
  kube_pod_labels, kube_pod_container_resource_requests (resource nvidia_com_gpu or
  nvidia_com_mig_<profile>, unit integer; cpu, unit core; memory, unit byte),
  kube_replicaset_owner and kube_job_owner
  (to resolve pods to Deployments, CronJobs and JobSets). Object series have a sample at
  every step the object exists.
Timestamps are Unix seconds; every family is contiguous with one # TYPE line, each series'
samples are contiguous and in time order; the text ends with '# EOF'.

Telemetry is generated once, block by block, into memory-mapped (device x step) arrays in a
temporary folder and then written family by family, so memory stays bounded; the text for
large simulations is very large (about 8 lines per device-step).
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import Iterable, TextIO

import numpy as np

from gpucost.ingest.simulate.config import SimConfig
from gpucost.ingest.simulate.fleet import FAMILIES, MIG_LAYOUTS, gpu_models, node_labels
from gpucost.ingest.simulate.names import label_name
from gpucost.ingest.simulate.world import World, build_world, pod_requests

DRIVER_VERSION = "580.105.08"
# p5/p4d PCI bus ids of GPUs 0-7 as in the real H100 capture (shared/data/dcgm).
PCI_BUS = ("53", "64", "75", "86", "97", "A8", "B9", "CA")
DCGM = (
    ("DCGM_FI_DEV_GPU_UTIL", "gpu_util", "GPU utilization (in %).", "%d"),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gr_engine_active", "Ratio of time the graphics engine is active.", "%.6f"),
    ("DCGM_FI_PROF_SM_ACTIVE", "sm_active", "The ratio of cycles an SM has at least 1 warp assigned.", "%.6f"),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "tensor_active", "Ratio of cycles the tensor (HMMA) pipe is active.", "%.6f"),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "dram_active",
     "Ratio of cycles the device memory interface is active sending or receiving data.", "%.6f"),
    ("DCGM_FI_DEV_FB_USED", "fb_used_mib", "Framebuffer memory used (in MiB).", "%d"),
    ("DCGM_FI_DEV_FB_FREE", "fb_free_mib", "Framebuffer memory free (in MiB).", "%d"),
    ("DCGM_FI_DEV_POWER_USAGE", "power_w", "Power draw (in W).", "%.6f"),
)
ABSENT = -2


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{_escape(str(v))}"' for k, v in pairs)


class _Writer:
    def __init__(self, world: World, out: TextIO):
        cfg = world.cfg
        self.world, self.out, self.cfg = world, out, cfg
        self.epoch0 = int((cfg.start - datetime(1970, 1, 1)).total_seconds())

    def family(self, name: str, help_text: str) -> None:
        self.out.write(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")

    def series(self, name: str, labels: str, steps: np.ndarray, values: Iterable[str]) -> None:
        prefix = f"{name}{{{labels}}} "
        ts = (self.epoch0 + steps.astype(np.int64) * self.cfg.step_seconds).tolist()
        self.out.write("".join([f"{prefix}{v} {t}\n" for v, t in zip(values, ts)]))

    def constant(self, name: str, labels: str, a: int, b: int, value: str = "1") -> None:
        a, b = max(0, a), min(self.cfg.n_steps, b)
        if b > a:
            self.series(name, labels, np.arange(a, b), [value] * (b - a))

    # -- dcgm-exporter ------------------------------------------------------------------------
    def dcgm(self, store: dict[str, np.ndarray], pod: np.ndarray) -> None:
        fleet, sched = self.world.fleet, self.world.schedule
        dev, models = fleet.devices, gpu_models()
        base = []
        for d in range(len(dev)):
            node = fleet.nodes[dev.node[d]]
            g = int(dev.gpu_index[d])
            pairs = [("gpu", g), ("UUID", dev.uuid[d]), ("pci_bus_id", f"00000000:{PCI_BUS[g]}:00.0"),
                     ("device", f"nvidia{g}"), ("modelName", models[FAMILIES[dev.family[d]]].model_name),
                     ("Hostname", node.name), ("DCGM_FI_DRIVER_VERSION", DRIVER_VERSION)]
            if dev.mig_id[d] >= 0:
                pairs += [("GPU_I_PROFILE", dev.mig_profile[d]), ("GPU_I_ID", int(dev.mig_id[d]))]
            base.append(_labels(pairs))
        pod_labels = {}
        for name, field, help_text, fmt in DCGM:
            self.family(name, help_text)
            values = store[field]
            for d in range(len(dev)):
                col, vals = pod[d], values[d]
                valid = (col != ABSENT) & ~np.isnan(vals)
                if not valid.any():
                    continue
                keys = col[valid]
                _, first = np.unique(keys, return_index=True)
                for key in keys[np.sort(first)]:
                    steps = np.nonzero(valid & (col == key))[0]
                    labels = base[d]
                    if key >= 0:
                        if key not in pod_labels:
                            p = sched.pods[key]
                            w = sched.workloads[p.workload]
                            pod_labels[key] = "," + _labels([("container", w.container), ("namespace", w.namespace),
                                                             ("pod", p.name)])
                        labels += pod_labels[key]
                    self.series(name, labels, steps, [fmt % v for v in vals[steps].tolist()])

    # -- kube-state-metrics -------------------------------------------------------------------
    def nodes(self) -> None:
        nodes, models = self.world.fleet.nodes, gpu_models()
        self.family("kube_node_info", "[STABLE] Information about a cluster node.")
        for n in nodes:
            self.constant("kube_node_info", _labels([
                ("container_runtime_version", "containerd://1.7.27"), ("kernel_version", "6.1.132-147.221.amzn2023.x86_64"),
                ("kubelet_version", "v1.32.3-eks-473151a"), ("kubeproxy_version", "deprecated"), ("node", n.name),
                ("os_image", "Amazon Linux 2023.7.20250512"), ("pod_cidr", ""), ("provider_id", n.provider_id),
                ("internal_ip", n.ip), ("system_uuid", n.system_uuid)]), n.start, n.end)
        self.family("kube_node_labels", "[STABLE] Kubernetes labels converted to Prometheus labels.")
        for n in nodes:
            pairs = sorted((label_name(k), v) for k, v in node_labels(n, models[n.family]).items())
            self.constant("kube_node_labels", _labels(pairs + [("node", n.name)]), n.start, n.end)
        self.family("kube_node_status_capacity", "[STABLE] The capacity for different resources of a node.")
        for n in nodes:
            caps = [("cpu", "core", str(n.vcpu)), ("memory", "byte", str(n.memory_mib * 1048576)),
                    ("nvidia_com_gpu", "integer", "0" if n.mig_layout else str(n.gpu_count))]
            counts: dict[str, int] = {}
            for profile, _ in MIG_LAYOUTS.get(n.mig_layout, ()):
                counts[profile] = counts.get(profile, 0) + n.gpu_count
            caps += [("nvidia_com_mig_" + p.replace(".", "_"), "integer", str(c)) for p, c in sorted(counts.items())]
            for resource, unit, value in caps:
                self.constant("kube_node_status_capacity",
                              _labels([("node", n.name), ("resource", resource), ("unit", unit)]), n.start, n.end, value)

    def pods(self) -> None:
        sched, nodes = self.world.schedule, self.world.fleet.nodes
        wls = sched.workloads

        def pod_ip(p) -> str:
            h = int(p.uid[:6], 16)
            return ".".join(nodes[p.node].ip.split(".")[:2] + [str(h >> 8 & 255), str(1 + h % 254)])

        self.family("kube_pod_info", "[STABLE] Information about pod.")
        for p in sched.pods:
            w, n = wls[p.workload], nodes[p.node]
            self.constant("kube_pod_info", _labels([
                ("created_by_kind", p.owner_kind), ("created_by_name", p.owner_name), ("host_ip", n.ip),
                ("namespace", w.namespace), ("node", n.name), ("pod", p.name), ("pod_ip", pod_ip(p)),
                ("uid", p.uid), ("priority_class", ""), ("host_network", "false")]), p.start, p.end)
        self.family("kube_pod_owner", "[STABLE] Information about the Pod's owner.")
        for p in sched.pods:
            self.constant("kube_pod_owner", _labels([
                ("namespace", wls[p.workload].namespace), ("owner_is_controller", "true"), ("owner_kind", p.owner_kind),
                ("owner_name", p.owner_name), ("pod", p.name), ("uid", p.uid)]), p.start, p.end)
        self.family("kube_pod_labels", "[STABLE] Kubernetes labels converted to Prometheus labels.")
        for p in sched.pods:
            w = wls[p.workload]
            pairs = sorted((label_name(k), v) for k, v in (w.labels | p.labels).items())
            self.constant("kube_pod_labels", _labels(pairs + [("namespace", w.namespace), ("pod", p.name),
                                                              ("uid", p.uid)]), p.start, p.end)
        self.family("kube_pod_container_resource_requests",
                    "[STABLE] The number of requested request resource by a container.")
        for p in sched.pods:
            w = wls[p.workload]
            resource = "nvidia_com_mig_" + w.mig_profile.replace(".", "_") if w.mig_profile else "nvidia_com_gpu"
            self.constant("kube_pod_container_resource_requests", _labels([
                ("container", w.container), ("namespace", w.namespace), ("node", nodes[p.node].name),
                ("pod", p.name), ("resource", resource), ("unit", "integer"), ("uid", p.uid)]),
                p.start, p.end, "1" if w.mig_profile else str(len(p.devices)))
            cpu, memory = pod_requests(self.world.fleet, w.kind, p)
            for res, unit, value in (("cpu", "core", f"{cpu:g}"), ("memory", "byte", str(memory))):
                self.constant("kube_pod_container_resource_requests", _labels([
                    ("container", w.container), ("namespace", w.namespace), ("node", nodes[p.node].name),
                    ("pod", p.name), ("resource", res), ("unit", unit), ("uid", p.uid)]), p.start, p.end, value)

    def owners(self) -> None:
        sched = self.world.schedule
        rs: dict[tuple[str, str], tuple[str, list]] = {}
        jobs: dict[tuple[str, str], tuple[str, str, list]] = {}
        for p in sched.pods:
            w = sched.workloads[p.workload]
            if p.owner_kind == "ReplicaSet":
                rs.setdefault((w.namespace, p.owner_name), (w.owner_name, []))[1].append((p.start, p.end))
            elif p.owner_kind == "Job":
                top = ("", "") if w.owner_kind == "Job" else (w.owner_kind, w.owner_name)
                jobs.setdefault((w.namespace, p.owner_name), (*top, []))[2].append((p.start, p.end))
        self.family("kube_replicaset_owner", "[STABLE] Information about the ReplicaSet's owner.")
        for (ns, name), (deploy, spans) in sorted(rs.items()):
            labels = _labels([("namespace", ns), ("owner_is_controller", "true"), ("owner_kind", "Deployment"),
                              ("owner_name", deploy), ("replicaset", name)])
            self._spans("kube_replicaset_owner", labels, spans)
        self.family("kube_job_owner", "[STABLE] Information about the Job's owner.")
        for (ns, name), (kind, owner, spans) in sorted(jobs.items()):
            labels = _labels([("job_name", name), ("namespace", ns), ("owner_is_controller", "true" if kind else ""),
                              ("owner_kind", kind), ("owner_name", owner)])
            self._spans("kube_job_owner", labels, spans)

    def _spans(self, name: str, labels: str, spans: list[tuple[int, int]]) -> None:
        steps = [np.arange(max(0, a), min(self.cfg.n_steps, b)) for a, b in _merge(spans)]
        steps = np.concatenate(steps) if steps else np.zeros(0, dtype=np.int64)
        if len(steps):
            self.series(name, labels, steps, ["1"] * len(steps))


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _telemetry_store(world: World, folder: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """All blocks into (device, step) memory maps: one per DCGM field, and the pod index
    (-1 none, ABSENT where the row does not exist)."""
    shape = (len(world.fleet.devices), world.cfg.n_steps)
    store = {f: np.lib.format.open_memmap(folder / f"{f}.npy", mode="w+", dtype=np.float64, shape=shape)
             for _, f, _, _ in DCGM}
    pod = np.lib.format.open_memmap(folder / "pod.npy", mode="w+", dtype=np.int64, shape=shape)
    for block in world.telemetry().blocks():
        sl = slice(block.t0, block.t0 + block.n)
        for f, arr in store.items():
            arr[:, sl] = block.values[f].T
        pod[:, sl] = np.where(block.present, block.pod, ABSENT).T
    return store, pod


def write_openmetrics(cfg: SimConfig, out: TextIO) -> None:
    """Write the simulation of `cfg` as OpenMetrics text to `out` (see module docstring)."""
    world = build_world(cfg)
    writer = _Writer(world, out)
    with tempfile.TemporaryDirectory(prefix="gpucost-openmetrics-") as tmp:
        store, pod = _telemetry_store(world, Path(tmp))
        writer.dcgm(store, pod)
        del store, pod
    writer.nodes()
    writer.pods()
    writer.owners()
    out.write("# EOF\n")
