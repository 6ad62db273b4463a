"""Read-only queries the rules and the runner share (the marts for one window).

All read ``usage_hourly`` (hourly per device and holder) unless noted, restricted to
``hour >= $start and hour < $end``; values are bind parameters. Nothing here writes.

- job_devices: per job and device, GPU-hours and cost by state, utilisation and memory peak.
- unallocated_devices: per device, the unallocated GPU-hours and cost.
- job_hours: per job and hour, the GPU-hours and utilisation over all its devices.
- pod_shapes: per pod (raw_pod_allocations joined to gpu_usage_pods for its job): owner kind,
  labels, GPUs requested, MIG profile, devices held, CPU/memory requests, life span.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from gpucost.analytics.recommend.model import JobKey, Window

JOB_DEVICES_SQL = """
select
    cluster, namespace, job, min(team) as team, device_key, device_id,
    min(node) as node, min(instance_type) as instance_type, min(capacity_type) as capacity_type,
    min(gpu_model) as gpu_model, min(mig_profile) as mig_profile, max(mem_total_bytes) as mem_total_bytes,
    sum(active_gpu_hours + idle_gpu_hours) as gpu_hours,
    sum(active_gpu_hours) as active_gpu_hours,
    sum(idle_gpu_hours) as idle_gpu_hours,
    sum(active_cost_usd + idle_cost_usd) as cost_usd,
    sum(idle_cost_usd) as idle_cost_usd,
    sum(util_gpu_hours) / nullif(sum(util_observed_gpu_hours), 0) as util_avg_pct,
    max(mem_used_max_bytes) as mem_peak_bytes
from usage_hourly
where hour >= $start and hour < $end and job is not null
group by cluster, namespace, job, device_key, device_id
having sum(active_gpu_hours + idle_gpu_hours) > 0
order by cluster, namespace, job, device_id
"""

UNALLOCATED_SQL = """
select device_key, min(instance_type) as instance_type, min(capacity_type) as capacity_type,
       sum(unallocated_gpu_hours) as gpu_hours, sum(unallocated_cost_usd) as cost_usd
from usage_hourly
where hour >= $start and hour < $end and job is null
group by device_key
having sum(unallocated_gpu_hours) > 0
order by device_key
"""

JOB_HOURS_SQL = """
select cluster, namespace, job, hour,
       sum(active_gpu_hours) as active_gpu_hours,
       sum(idle_gpu_hours) as idle_gpu_hours,
       sum(idle_cost_usd) as idle_cost_usd,
       sum(util_gpu_hours) / nullif(sum(util_observed_gpu_hours), 0) as util_pct
from usage_hourly
where hour >= $start and hour < $end and job is not null
group by cluster, namespace, job, hour
order by cluster, namespace, job, hour
"""

POD_SHAPES_SQL = """
with pods as (
    select distinct cluster, namespace, pod, job from gpu_usage_pods
),
alloc as (
    select a.cluster, a.namespace, a.pod, p.job, a.owner_kind, a.owner_name, a.labels,
           a.gpu_request, a.mig_profile, a.devices, a.cpu_request_cores, a.memory_request_bytes,
           a.valid_from, a.valid_to
    from raw_pod_allocations as a
    join pods as p using (cluster, namespace, pod)
    where a.valid_from < $end and a.valid_to > $start
)
select cluster, namespace, job, pod,
       min(owner_kind) as owner_kind, min(owner_name) as owner_name,
       first(labels order by valid_from) as labels,
       max(coalesce(gpu_request, 0)) as gpu_request,
       min(mig_profile) as mig_profile,
       first(devices order by valid_from) as devices,
       max(cpu_request_cores) as cpu_request_cores,
       max(memory_request_bytes) as memory_request_bytes,
       min(valid_from) as started_at, max(valid_to) as ended_at
from alloc
group by cluster, namespace, job, pod
order by cluster, namespace, job, started_at, pod
"""


@dataclass(frozen=True)
class JobDevice:
    """One job's use of one device in the window (usage_hourly, active + allocated_idle)."""

    cluster: str
    namespace: str
    job: str
    team: str | None
    device_key: int
    device_id: str
    node: str
    instance_type: str | None
    capacity_type: str | None
    gpu_model: str | None
    mig_profile: str | None
    mem_total_bytes: int | None
    gpu_hours: float
    active_gpu_hours: float
    idle_gpu_hours: float
    cost_usd: float
    idle_cost_usd: float
    util_avg_pct: float | None
    mem_peak_bytes: int | None

    @property
    def holder(self) -> JobKey:
        return (self.cluster, self.namespace, self.job)

    @property
    def active_share(self) -> float:
        """Share of the held, observed GPU-hours in state active (0..1)."""
        return self.active_gpu_hours / self.gpu_hours if self.gpu_hours > 0 else 0.0


@dataclass(frozen=True)
class PodShape:
    cluster: str
    namespace: str
    job: str
    pod: str
    owner_kind: str | None
    owner_name: str | None
    labels: dict[str, str]
    gpu_request: int
    mig_profile: str | None
    devices: tuple[str, ...]
    cpu_request_cores: float | None
    memory_request_bytes: int | None
    started_at: datetime
    ended_at: datetime

    @property
    def holder(self) -> JobKey:
        return (self.cluster, self.namespace, self.job)


def _params(window: Window) -> dict[str, datetime]:
    return {"start": window.start, "end": window.end}


def _rows(con: duckdb.DuckDBPyConnection, sql: str, window: Window) -> list[dict]:
    cur = con.execute(sql, _params(window))
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def job_devices(con: duckdb.DuckDBPyConnection, window: Window) -> list[JobDevice]:
    return [JobDevice(**{**r, "device_key": int(r["device_key"])}) for r in _rows(con, JOB_DEVICES_SQL, window)]


def unallocated_devices(con: duckdb.DuckDBPyConnection, window: Window) -> list[dict]:
    return [{**r, "device_key": int(r["device_key"])} for r in _rows(con, UNALLOCATED_SQL, window)]


def job_hours(con: duckdb.DuckDBPyConnection, window: Window) -> dict[JobKey, list[dict]]:
    out: dict[JobKey, list[dict]] = {}
    for r in _rows(con, JOB_HOURS_SQL, window):
        out.setdefault((r["cluster"], r["namespace"], r["job"]), []).append(r)
    return out


def pod_shapes(con: duckdb.DuckDBPyConnection, window: Window) -> dict[JobKey, list[PodShape]]:
    out: dict[JobKey, list[PodShape]] = {}
    for r in _rows(con, POD_SHAPES_SQL, window):
        r["labels"] = dict(r["labels"] or {})
        r["devices"] = tuple(r["devices"] or ())
        shape = PodShape(**r)
        out.setdefault(shape.holder, []).append(shape)
    return out


def by_job(devices: list[JobDevice]) -> dict[JobKey, list[JobDevice]]:
    out: dict[JobKey, list[JobDevice]] = {}
    for d in devices:
        out.setdefault(d.holder, []).append(d)
    return out


def percentile(values: list[float], pct: float) -> float | None:
    """Linear-interpolated percentile (like numpy's default) of non-null values."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return None
    pos = (len(xs) - 1) * pct / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def max_concurrent(pods: list[PodShape]) -> int:
    """Most pods of a job alive at one time (replicas of a Deployment)."""
    events = sorted([(p.started_at, 1) for p in pods] + [(p.ended_at, -1) for p in pods],
                    key=lambda e: (e[0], e[1]))
    best = cur = 0
    for _, delta in events:
        cur += delta
        best = max(best, cur)
    return best


def target_of(job: JobKey, pods: list[PodShape]) -> tuple[str, str]:
    """('<namespace>/<OwnerKind>/<name>', owner kind) naming what a user would edit."""
    cluster, namespace, name = job
    kind = next((p.owner_kind for p in pods if p.owner_kind), None) or "Pod"
    owner = next((p.owner_name for p in pods if p.owner_name), None) or name
    return f"{namespace}/{kind}/{owner}", kind


CONTAINERS_SQL = """
select distinct namespace, pod, container
from raw_dcgm_samples
where ts >= $t0 and ts < $t0 + interval 1 hour and container is not null
  and list_contains($pods, namespace || '/' || pod)
order by namespace, pod, container
"""


def containers(con: duckdb.DuckDBPyConnection, window: Window, pods: list[PodShape]) -> list[str]:
    """Names of the GPU containers of these pods, as dcgm-exporter's pod mapping saw them in
    the first hour of the earliest pod in the window (one hour keeps the scan of the largest
    raw table small)."""
    if not pods:
        return []
    keys = sorted({f"{p.namespace}/{p.pod}" for p in pods})
    t0 = max(window.start, min(p.started_at for p in pods))
    rows = con.execute(CONTAINERS_SQL, {"t0": t0, "pods": keys}).fetchall()
    return sorted({r[2] for r in rows})
