"""dcgm-exporter series (downsampled per step) into raw_dcgm_samples rows and observations.

Labels read (dcgm-exporter 2.x-4.x): `gpu` (index; else the N of `device="nvidiaN"`),
`UUID`, `device`, `modelName` (vGPU guests report e.g. 'GRID A100-40C'), node name from
`Hostname` (older exporters) or `hostname` (newer), else `node` / `kubernetes_node`
relabels; MIG instances from `GPU_I_ID` / `GPU_I_PROFILE` (profile also from
`dra_mig_profile`); the pod from `pod`/`namespace`/`container`, or `pod_name`/
`pod_namespace`/`container_name` (the exporter's old-namespace flag), or
`exported_pod`/... when Prometheus renamed clashing target labels (honor_labels off) -
then the plain `pod` label is the exporter's own pod and is ignored, as it is when
`container` names the exporter itself. DRA labels (`dra_claim_namespace`, `dra_claim_name`)
resolve the pod through kube_pod_resourceclaim_info when the pod labels are missing.
Other labels (pci_bus_id, DCGM_FI_DRIVER_VERSION, vgpu, instance, job, ...) do not
distinguish devices.

Rows: one per device (GPU UUID + GPU_I_ID) per step with at least one field sample.
When one device has several series at a step (a pod change within the step, duplicated
scrape jobs), the row comes from the series with a pod, then with the most fields, then
the first by labels; duplicate samples of one series identity keep the first value.
NaN and +-Inf samples are stored as null (the row exists; the build makes it no_data) and
counted. A series without UUID, node or GPU index cannot be placed and is skipped (counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from gpucost.errors import GpucostError
from gpucost.ingest.prometheus.matrix import Matrix
from gpucost.ingest.prometheus.queries import FIELDS_BY_NAME
from gpucost.ingest.prometheus.windows import Grid

NODE_LABELS = ("Hostname", "hostname", "node", "kubernetes_node")
POD_LABELS = (("pod", "namespace", "container"), ("pod_name", "pod_namespace", "container_name"))
EXPORTED_POD_LABELS = ("exported_pod", "exported_namespace", "exported_container")
EXPORTER_CONTAINERS = frozenset({"nvidia-dcgm-exporter", "dcgm-exporter"})
TS = pa.timestamp("us")


@dataclass(frozen=True)
class Identity:
    node: str
    gpu_index: int
    uuid: str
    device: str | None
    model: str | None
    mig_id: int | None
    mig_profile: str | None
    namespace: str | None
    pod: str | None
    container: str | None

    @property
    def device_id(self) -> str:
        return self.uuid if self.mig_id is None else f"{self.uuid}/{self.mig_id}"


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def series_identity(labels: dict[str, str], exported: bool,
                    claim_pods: dict[tuple[str, str], tuple[str, str]] | None = None) -> Identity | None:
    """The device and pod of one DCGM series, or None when it cannot be placed."""
    uuid = labels.get("UUID") or labels.get("uuid")
    node = next((labels[k] for k in NODE_LABELS if labels.get(k)), None)
    gpu = _int(labels.get("gpu"))
    device = labels.get("device") or None
    if gpu is None and device and device.startswith("nvidia"):
        gpu = _int(device[6:])
    if not uuid or not node or gpu is None:
        return None
    mig_id = _int(labels.get("GPU_I_ID"))
    profile = (labels.get("GPU_I_PROFILE") or labels.get("dra_mig_profile") or None) if mig_id is not None else None
    pod = ns = container = None
    if exported:
        pod, ns, container = (labels.get(k) or None for k in EXPORTED_POD_LABELS)
    else:
        for pod_k, ns_k, c_k in POD_LABELS:
            if labels.get(pod_k):
                pod, ns, container = labels[pod_k], labels.get(ns_k) or None, labels.get(c_k) or None
                break
        if container in EXPORTER_CONTAINERS:
            pod = ns = container = None
    if pod is None and claim_pods and labels.get("dra_claim_name"):
        hit = claim_pods.get((labels.get("dra_claim_namespace", ""), labels["dra_claim_name"]))
        if hit:
            ns, pod = hit
    if pod is None or ns is None:
        pod = ns = container = None
    return Identity(node, gpu, uuid, device, labels.get("modelName") or None, mig_id, profile, ns, pod, container)


@dataclass
class DeviceObs:
    """A device seen in the window: first/last step with a row, memory (MiB) when known."""

    identity: Identity
    first: int
    last: int
    mem_mib: float | None


@dataclass
class PodObs:
    """A pod seen on devices in the window: its node, device ids and the steps seen."""

    node: str
    devices: set[str] = field(default_factory=set)
    steps: set[int] = field(default_factory=set)


@dataclass
class DcgmWindow:
    table: pa.Table
    devices: dict[str, DeviceObs]
    pods: dict[tuple[str, str], PodObs]
    series: int = 0
    samples: int = 0
    nonfinite: int = 0
    duplicates: int = 0
    skipped_series: int = 0
    skipped_labels: list[dict] = field(default_factory=list)


def unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.unique's hash path in numpy 2.x is ~50x slower on int64)."""
    if not len(a):
        return a
    s = np.sort(a)
    return s[np.concatenate(([True], s[1:] != s[:-1]))]


def _dict_column(codes: np.ndarray, values: list, type_=pa.string()) -> pa.Array:
    """Dictionary array of values[codes] with nulls where the value is None."""
    uniq = sorted({v for v in values if v is not None})
    pos = {v: i for i, v in enumerate(uniq)}
    per = np.array([pos.get(v, -1) for v in values] or [-1], dtype=np.int32)
    idx = per[codes] if len(values) else np.zeros(len(codes), np.int32)
    mask = idx < 0
    return pa.DictionaryArray.from_arrays(pa.array(np.maximum(idx, 0), pa.int32(), mask=mask),
                                          pa.array(uniq or [""], type_))


def _int_column(codes: np.ndarray, values: list) -> pa.Array:
    per = np.array([-1 if v is None else v for v in values] or [-1], dtype=np.int64)
    nulls = np.array([v is None for v in values] or [True])
    return pa.array(per[codes].astype(np.int32), pa.int32(), mask=nulls[codes])


def dcgm_window(fields: dict[str, Matrix], grid: Grid, cluster: str,
                claim_pods: dict[tuple[str, str], tuple[str, str]] | None = None) -> DcgmWindow:
    """raw_dcgm_samples rows (Arrow) and device/pod observations for one window.

    Works on a dense (device x step) grid: each cell's row comes from one series identity
    (the winner: with a pod first, then the first identity by labels); memory is about
    12 bytes per device-step of the window."""
    idents: list[Identity] = []
    ident_index: dict[Identity, int] = {}
    parts = []     # (column, identity per sample, step per sample, values)
    out = DcgmWindow(pa.table({}), {}, {})
    for name, m in fields.items():
        column = FIELDS_BY_NAME[name].column
        out.series += len(m.labels)
        out.samples += m.samples
        if not m.labels or column is None:
            continue
        exported = any("exported_pod" in lab for lab in m.labels)
        remap = np.empty(len(m.labels), np.int64)
        for i, lab in enumerate(m.labels):
            ident = series_identity(lab, exported, claim_pods)
            if ident is None:
                remap[i] = -1
                out.skipped_series += 1
                if len(out.skipped_labels) < 3:
                    out.skipped_labels.append(lab)
                continue
            j = ident_index.get(ident)
            if j is None:
                j = ident_index[ident] = len(idents)
                idents.append(ident)
            remap[i] = j
        ident_of = remap[m.series]
        off = m.ts - grid.eval_ms(0)
        k = off // grid.step_ms
        if len(off) and (np.any(off % grid.step_ms) or k.min() < 0 or k.max() >= grid.n):
            bad = int(np.flatnonzero((off % grid.step_ms != 0) | (k < 0) | (k >= grid.n))[0])
            raise GpucostError(f"{name}: sample at {m.ts[bad] / 1000:.3f} is not on the query's step grid")
        keep = ident_of >= 0
        vals = m.values[keep]
        bad = ~np.isfinite(vals)
        if bad.any():
            out.nonfinite += int(bad.sum())
            vals = np.where(bad, np.nan, vals)
        parts.append((column, ident_of[keep], k[keep], vals))
    if not sum(len(p[1]) for p in parts):
        out.table = pa.table({"ts": pa.array([], TS), "cluster": pa.array([], pa.string())})
        return out

    n = grid.n
    dev_ids = sorted({i.device_id for i in idents})
    dev_pos = {d: x for x, d in enumerate(dev_ids)}
    dev_of_ident = np.array([dev_pos[i.device_id] for i in idents], np.int64)
    has_pod = np.array([i.pod is not None for i in idents])
    # rank: a pod beats none, then the lower identity index wins
    rank_of_ident = np.where(has_pod, 2 * len(idents), len(idents)) - np.arange(len(idents))
    best = np.zeros(len(dev_ids) * n, np.int64)
    for _, ids, k, _ in parts:
        np.maximum.at(best, dev_of_ident[ids] * n + k, rank_of_ident[ids])
    present = best > 0
    row_of_cell = np.cumsum(present, dtype=np.int64) - 1
    cells = np.flatnonzero(present)
    n_rows = len(cells)
    winner_rank = best[cells]
    values: dict[str, np.ndarray] = {}
    for column, ids, k, vals in parts:
        cell = dev_of_ident[ids] * n + k
        won = best[cell] == rank_of_ident[ids]
        out.duplicates += int((~won).sum())
        rows = row_of_cell[cell[won]]
        v = vals[won]
        counts = np.bincount(rows, minlength=n_rows)
        if counts.max(initial=0) > 1:                     # the same identity twice (duplicate scrapes)
            order = np.argsort(rows, kind="stable")
            first = np.ones(len(rows), bool)
            first[order[1:]] = rows[order[1:]] != rows[order[:-1]]
            out.duplicates += int((~first).sum())
            rows, v = rows[first], v[first]
        col = values.get(column)
        if col is None:
            col = values[column] = np.full(n_rows, np.nan)
        col[rows] = v
    # winner identity per row, from its rank
    ident_by_rank = np.empty(2 * len(idents) + 1, np.int64)
    ident_by_rank[rank_of_ident] = np.arange(len(idents))
    ident = ident_by_rank[winner_rank]
    dev = cells // n
    step = cells % n

    ts = np.int64(grid.start_ms) * 1000 + step * np.int64(grid.step_ms) * 1000
    table = {
        "ts": pa.array(ts, TS),
        "cluster": pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(ts), np.int32)), pa.array([cluster])),
        "node": _dict_column(ident, [i.node for i in idents]),
        "gpu_index": _int_column(ident, [i.gpu_index for i in idents]),
        "gpu_uuid": _dict_column(ident, [i.uuid for i in idents]),
        "device": _dict_column(ident, [i.device for i in idents]),
        "gpu_model": _dict_column(ident, [i.model for i in idents]),
        "mig_instance_id": _int_column(ident, [i.mig_id for i in idents]),
        "mig_profile": _dict_column(ident, [i.mig_profile for i in idents]),
        "pod": _dict_column(ident, [i.pod for i in idents]),
        "namespace": _dict_column(ident, [i.namespace for i in idents]),
        "container": _dict_column(ident, [i.container for i in idents]),
    }
    for column, arr in values.items():
        table[column] = pa.array(arr, pa.float64(), mask=np.isnan(arr))
    out.table = pa.table(table)

    # observations: rows are ordered by device, then step
    bounds = np.searchsorted(dev, np.arange(len(dev_ids) + 1))
    mem_max = np.full(len(dev_ids), np.nan)         # per device: the largest FB_USED + FB_FREE
    if {"fb_used_mib", "fb_free_mib"} <= values.keys():
        starts = bounds[:-1]
        filled = bounds[1:] > starts
        if filled.any():
            mem_max[filled] = np.fmax.reduceat(values["fb_used_mib"] + values["fb_free_mib"], starts[filled])
    for d in np.flatnonzero(bounds[1:] > bounds[:-1]):
        a, b = bounds[d], bounds[d + 1]
        m_max = None if np.isnan(mem_max[d]) else float(mem_max[d])
        out.devices[dev_ids[d]] = DeviceObs(idents[int(ident[a])], int(step[a]), int(step[b - 1]), m_max)
    pod_rows = np.flatnonzero(has_pod[ident])
    if len(pod_rows):
        order = pod_rows[np.argsort(ident[pod_rows], kind="stable")]
        ids = ident[order]
        cut = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1], [True])))
        for a, b in zip(cut[:-1], cut[1:]):
            i = idents[int(ids[a])]
            obs = out.pods.setdefault((i.namespace, i.pod), PodObs(i.node))
            obs.devices.add(i.device_id)
            obs.steps.update(step[order[a:b]].tolist())
    return out
