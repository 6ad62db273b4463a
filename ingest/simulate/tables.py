"""Arrow tables for the raw_* tables, one window (a UTC day of steps) at a time.

Interval rows (nodes, devices, pod allocations) are clipped to the window: valid_from is
max(start, window start) and valid_to min(end, window end), as RawLoad requires. String
columns are dictionary-encoded (DuckDB casts them to VARCHAR on insert).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from gpucost.ingest.simulate.config import SimConfig
from gpucost.ingest.simulate.fleet import FAMILIES, Fleet, gpu_models, node_labels
from gpucost.ingest.simulate.names import REGION
from gpucost.ingest.simulate.prices import SpotPrices
from gpucost.ingest.simulate.scheduler import Schedule
from gpucost.ingest.simulate.telemetry import FIELDS, Block
from gpucost.ingest.simulate.world import pod_requests

MAP = pa.map_(pa.string(), pa.string())
TS = pa.timestamp("us")


def _dict(codes: np.ndarray, dictionary: pa.Array, null: np.ndarray | None = None) -> pa.DictionaryArray:
    idx = pa.array(codes.astype(np.int32), mask=null)
    return pa.DictionaryArray.from_arrays(idx, dictionary)


def _ints(values: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(values.astype(np.int32), mask=null)


def _floats(values: np.ndarray) -> pa.Array:
    return pa.array(values, mask=np.isnan(values))


class Tables:
    """Builds raw_* Arrow tables for windows of one simulated world."""

    def __init__(self, cfg: SimConfig, fleet: Fleet, schedule: Schedule, prices: SpotPrices):
        self.cfg, self.fleet, self.schedule, self.prices = cfg, fleet, schedule, prices
        dev = fleet.devices
        models = gpu_models()
        self.node_names = pa.array([n.name for n in fleet.nodes])
        self.model_names = pa.array([models[f].model_name for f in FAMILIES])
        self.uuids = pa.array(dev.uuid)
        self.dev_names = pa.array([f"nvidia{i}" for i in range(8)])
        self.profiles = sorted({p for p in dev.mig_profile if p})
        self.profile_dict = pa.array(self.profiles or [""])
        self.dev_profile = np.array([self.profiles.index(p) if p else 0 for p in dev.mig_profile], dtype=np.int32)
        self.dev_nomig = dev.mig_id < 0
        wls = schedule.workloads
        pods = schedule.pods
        self.namespaces = sorted({w.namespace for w in wls}) or [""]
        ns_code = {ns: i for i, ns in enumerate(self.namespaces)}
        containers = sorted({w.container for w in wls}) or [""]
        self.containers = containers
        c_code = {c: i for i, c in enumerate(containers)}
        self.pod_ns = np.array([ns_code[wls[p.workload].namespace] for p in pods] or [0], dtype=np.int32)
        self.pod_container = np.array([c_code[wls[p.workload].container] for p in pods] or [0], dtype=np.int32)
        self.ns_dict, self.container_dict = pa.array(self.namespaces), pa.array(containers)

    def _clip(self, start: np.ndarray, end: np.ndarray, a: int, b: int):
        keep = np.nonzero((start < b) & (end > a))[0]
        return keep, np.maximum(start[keep], a), np.minimum(end[keep], b)

    def nodes(self, a: int, b: int) -> pa.Table:
        cfg, nodes = self.cfg, self.fleet.nodes
        models = gpu_models()
        keep, lo, hi = self._clip(np.array([n.start for n in nodes]), np.array([n.end for n in nodes]), a, b)
        sel = [nodes[i] for i in keep]
        return pa.table({
            "cluster": pa.array([cfg.cluster] * len(sel)),
            "node": pa.array([n.name for n in sel], pa.string()),
            "valid_from": pa.array(cfg.ts_array(lo), TS),
            "valid_to": pa.array(cfg.ts_array(hi), TS),
            "instance_type": pa.array([n.instance_type for n in sel], pa.string()),
            "capacity_type": pa.array([n.capacity_type for n in sel], pa.string()),
            "region": pa.array([REGION] * len(sel), pa.string()),
            "zone": pa.array([n.zone for n in sel], pa.string()),
            "gpu_model": pa.array([models[n.family].model_name for n in sel], pa.string()),
            "gpu_count": pa.array([n.gpu_count for n in sel], pa.int32()),
            "cpu_cores": pa.array([float(n.vcpu) for n in sel], pa.float64()),
            "memory_bytes": pa.array([n.memory_mib * 1048576 for n in sel], pa.int64()),
            "provider_id": pa.array([n.provider_id for n in sel], pa.string()),
            "labels": pa.array([list(node_labels(n, models[n.family]).items()) for n in sel], MAP),
        })

    def devices(self, a: int, b: int) -> pa.Table:
        cfg, dev, nodes = self.cfg, self.fleet.devices, self.fleet.nodes
        keep, lo, hi = self._clip(np.array([n.start for n in nodes])[dev.node],
                                  np.array([n.end for n in nodes])[dev.node], a, b)
        nomig = self.dev_nomig[keep]
        return pa.table({
            "cluster": pa.array([cfg.cluster] * len(keep), pa.string()),
            "node": _dict(dev.node[keep], self.node_names),
            "valid_from": pa.array(cfg.ts_array(lo), TS),
            "valid_to": pa.array(cfg.ts_array(hi), TS),
            "device_id": pa.array([dev.device_id[i] for i in keep], pa.string()),
            "gpu_index": _ints(dev.gpu_index[keep]),
            "gpu_uuid": _dict(keep, self.uuids),
            "gpu_model": _dict(dev.family[keep], self.model_names),
            "mig_instance_id": _ints(dev.mig_id[keep], nomig),
            "mig_profile": _dict(self.dev_profile[keep], self.profile_dict, nomig),
            "mem_total_bytes": pa.array(dev.mem_mib[keep] * 1048576, pa.int64()),
        })

    def pods(self, a: int, b: int) -> pa.Table:
        cfg, pods, wls = self.cfg, self.schedule.pods, self.schedule.workloads
        dev, nodes = self.fleet.devices, self.fleet.nodes
        keep, lo, hi = self._clip(np.array([p.start for p in pods], dtype=np.int64),
                                  np.array([p.end for p in pods], dtype=np.int64), a, b)
        sel = [pods[i] for i in keep]
        owner = [wls[p.workload] for p in sel]
        requests = [pod_requests(self.fleet, w.kind, p) for p, w in zip(sel, owner)]
        return pa.table({
            "cluster": pa.array([cfg.cluster] * len(sel), pa.string()),
            "namespace": pa.array([w.namespace for w in owner], pa.string()),
            "pod": pa.array([p.name for p in sel], pa.string()),
            "node": pa.array([nodes[p.node].name for p in sel], pa.string()),
            "valid_from": pa.array(cfg.ts_array(lo), TS),
            "valid_to": pa.array(cfg.ts_array(hi), TS),
            "gpu_request": pa.array([None if w.mig_profile else len(p.devices) for p, w in zip(sel, owner)],
                                    pa.int32()),
            "mig_profile": pa.array([w.mig_profile for w in owner], pa.string()),
            "devices": pa.array([[dev.device_id[d] for d in p.devices] for p in sel], pa.list_(pa.string())),
            "owner_kind": pa.array([w.owner_kind for w in owner], pa.string()),
            "owner_name": pa.array([w.owner_name for w in owner], pa.string()),
            "labels": pa.array([list((w.labels | p.labels).items()) for p, w in zip(sel, owner)], MAP),
            "cpu_request_cores": pa.array([r[0] for r in requests], pa.float64()),
            "memory_request_bytes": pa.array([r[1] for r in requests], pa.int64()),
        })

    def prices_table(self, a: int, b: int) -> pa.Table:
        cfg = self.cfg
        rows = self.prices.between(a, b)
        return pa.table({
            "kind": pa.array(["spot"] * len(rows), pa.string()),
            "region": pa.array([REGION] * len(rows), pa.string()),
            "zone": pa.array([r[1] for r in rows], pa.string()),
            "instance_type": pa.array([r[0] for r in rows], pa.string()),
            "effective_at": pa.array(cfg.ts_array(np.array([r[2] for r in rows], dtype=np.int64)), TS),
            "usd_per_hour": pa.array([r[3] for r in rows], pa.float64()),
        })

    def dcgm_empty(self) -> pa.Table:
        """A raw_dcgm_samples table without rows (books the table in a load that has none)."""
        return pa.table({"ts": pa.array([], TS), "cluster": pa.array([], pa.string())})

    def dcgm(self, pieces: list[tuple[Block, int, int]]) -> pa.Table:
        """raw_dcgm_samples rows of block steps [s0, s1) of consecutive pieces, as one table
        ordered by (device, ts) (series stay contiguous, which DuckDB compresses well)."""
        cfg, dev = self.cfg, self.fleet.devices
        pieces = [p for p in pieces if p[2] > p[1]]
        if not pieces:
            return self.dcgm_empty()
        t0 = pieces[0][0].t0 + pieces[0][1]
        present = np.concatenate([b.present[s0:s1] for b, s0, s1 in pieces])
        d_i, s_i = np.nonzero(present.T)
        flat = s_i * present.shape[1] + d_i
        pod = np.concatenate([b.pod[s0:s1] for b, s0, s1 in pieces]).ravel()[flat]
        nopod = pod < 0
        seen, codes = np.unique(pod[~nopod], return_inverse=True)
        local = np.zeros(len(pod), dtype=np.int32)
        local[~nopod] = codes
        pods = self.schedule.pods
        nomig = self.dev_nomig[d_i]
        cols = {
            "ts": pa.array(cfg.ts_array(t0 + s_i), TS),
            "cluster": _dict(np.zeros(len(s_i)), pa.array([cfg.cluster])),
            "node": _dict(dev.node[d_i], self.node_names),
            "gpu_index": _ints(dev.gpu_index[d_i]),
            "gpu_uuid": _dict(d_i, self.uuids),
            "device": _dict(dev.gpu_index[d_i], self.dev_names),
            "gpu_model": _dict(dev.family[d_i], self.model_names),
            "mig_instance_id": _ints(dev.mig_id[d_i], nomig),
            "mig_profile": _dict(self.dev_profile[d_i], self.profile_dict, nomig),
            "pod": _dict(local, pa.array([pods[i].name for i in seen] or [""]), nopod),
            "namespace": _dict(self.pod_ns[np.maximum(pod, 0)], self.ns_dict, nopod),
            "container": _dict(self.pod_container[np.maximum(pod, 0)], self.container_dict, nopod),
        }
        for f in FIELDS:
            cols[f] = _floats(np.concatenate([b.values[f][s0:s1] for b, s0, s1 in pieces]).ravel()[flat])
        return pa.table(cols)
