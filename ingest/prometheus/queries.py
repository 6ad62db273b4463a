"""Every PromQL string gpucost sends, as named templates, and the DCGM field catalogue.

Downsampling happens in Prometheus: a range query with step S evaluated at the end of each
step, t_k = window_start + (k + 1) * S, with `offset 1ms` aggregates, per series, exactly
the samples of step k, [window_start + k*S, window_start + (k+1)*S) (ms timestamps), and the
collector stores the result at the step start. The range is `S - 1ms` on Prometheus 2.x
(ranges closed on both ends) and `S` on 3.x (left-open), which select the same samples.
(Evaluating at whole seconds keeps the answer's timestamps integers: ~15 % fewer bytes.)

Gauges use avg_over_time (the step's mean); info-style kube-state-metrics series use
max_over_time (1 when the object existed at any sample of the step); capacities and
requests use max_over_time of their value. A step without samples returns no point, so
missing telemetry stays missing (the build turns it into no_data, never idle).

Template fields: {sel} is '' or '{<selector>}' and {and_sel} is '' or ',<selector>'
(the user's --selector, e.g. cluster="prod"); {range} a PromQL duration; {window} the
load window's duration, for the few queries evaluated once per window.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- DCGM field catalogue --------------------------------------------------------------------
# Source: dcgm-exporter's etc/default-counters.csv and etc/dcp-metrics-included.csv
# (releases 2.3.1-2.6.0 .. 4.5.3-4.8.2), plus the DCP fields those files list commented out.
# kind: gauge | counter; agg: how a step is summarised (avg, max, increase); column: the
# raw_dcgm_samples column it fills, None while the warehouse has no column for it.


@dataclass(frozen=True)
class DcgmField:
    name: str
    kind: str
    agg: str
    column: str | None
    unit: str
    prof: bool = False   # a DCP (profiling) field: needs DCGM profiling, absent on some GPUs


DCGM_FIELDS: tuple[DcgmField, ...] = (
    # the 8 fields the build reads
    DcgmField("DCGM_FI_DEV_GPU_UTIL", "gauge", "avg", "gpu_util", "%"),
    DcgmField("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "avg", "gr_engine_active", "ratio", True),
    DcgmField("DCGM_FI_PROF_SM_ACTIVE", "gauge", "avg", "sm_active", "ratio", True),
    DcgmField("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "avg", "tensor_active", "ratio", True),
    DcgmField("DCGM_FI_PROF_DRAM_ACTIVE", "gauge", "avg", "dram_active", "ratio", True),
    DcgmField("DCGM_FI_DEV_FB_USED", "gauge", "avg", "fb_used_mib", "MiB"),
    DcgmField("DCGM_FI_DEV_FB_FREE", "gauge", "avg", "fb_free_mib", "MiB"),
    DcgmField("DCGM_FI_DEV_POWER_USAGE", "gauge", "avg", "power_w", "W"),
    # more default counters (columns from schema v6)
    DcgmField("DCGM_FI_DEV_FB_RESERVED", "gauge", "avg", "fb_reserved_mib", "MiB"),
    DcgmField("DCGM_FI_DEV_SM_CLOCK", "gauge", "avg", "sm_clock_mhz", "MHz"),
    DcgmField("DCGM_FI_DEV_MEM_CLOCK", "gauge", "avg", None, "MHz"),
    DcgmField("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "max", "mem_temp_c", "C"),
    DcgmField("DCGM_FI_DEV_GPU_TEMP", "gauge", "max", "gpu_temp_c", "C"),
    DcgmField("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "increase", "energy_mj", "mJ"),
    DcgmField("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "increase", "pcie_replays", "retries"),
    DcgmField("DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "gauge", "avg", None, "KB/s"),   # 2.x releases only
    DcgmField("DCGM_FI_DEV_PCIE_RX_THROUGHPUT", "gauge", "avg", None, "KB/s"),   # 2.x releases only
    DcgmField("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "avg", "mem_copy_util", "%"),
    DcgmField("DCGM_FI_DEV_ENC_UTIL", "gauge", "avg", None, "%"),
    DcgmField("DCGM_FI_DEV_DEC_UTIL", "gauge", "avg", None, "%"),
    DcgmField("DCGM_FI_DEV_XID_ERRORS", "gauge", "max", "xid_error", "xid"),          # last XID code, 0 none
    DcgmField("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "counter", "increase", "nvlink_bytes", "bytes"),
    DcgmField("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "max", None, "status"),
    DcgmField("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", "max", None, "rows"),
    DcgmField("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "max", None, "rows"),
    DcgmField("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "max", None, "bool"),
    # violation counters (commented out in the default counters; time throttled, us)
    DcgmField("DCGM_FI_DEV_POWER_VIOLATION", "counter", "increase", "power_violation_us", "us"),
    DcgmField("DCGM_FI_DEV_THERMAL_VIOLATION", "counter", "increase", "thermal_violation_us", "us"),
    # DCP fields beyond the stored four
    DcgmField("DCGM_FI_PROF_SM_OCCUPANCY", "gauge", "avg", "sm_occupancy", "ratio", True),
    DcgmField("DCGM_FI_PROF_PIPE_FP64_ACTIVE", "gauge", "avg", None, "ratio", True),
    DcgmField("DCGM_FI_PROF_PIPE_FP32_ACTIVE", "gauge", "avg", None, "ratio", True),
    DcgmField("DCGM_FI_PROF_PIPE_FP16_ACTIVE", "gauge", "avg", None, "ratio", True),
    DcgmField("DCGM_FI_PROF_PCIE_TX_BYTES", "gauge", "avg", None, "B/s", True),
    DcgmField("DCGM_FI_PROF_PCIE_RX_BYTES", "gauge", "avg", None, "B/s", True),
    DcgmField("DCGM_FI_PROF_NVLINK_TX_BYTES", "gauge", "avg", None, "B/s", True),
    DcgmField("DCGM_FI_PROF_NVLINK_RX_BYTES", "gauge", "avg", None, "B/s", True),
)
FIELDS_BY_NAME = {f.name: f for f in DCGM_FIELDS}
STORED_FIELDS = tuple(f for f in DCGM_FIELDS if f.column is not None)
# Fields the build needs for activity: one of these must exist per device.
ACTIVITY_FIELD = "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
FALLBACK_ACTIVITY_FIELD = "DCGM_FI_DEV_GPU_UTIL"

DCGM_AVG = "avg_over_time({metric}{sel}[{range}] offset 1ms)"
DCGM_MAX = "max_over_time({metric}{sel}[{range}] offset 1ms)"
DCGM_INCREASE = "increase({metric}{sel}[{range}] offset 1ms)"
DCGM_QUERIES = {"avg": DCGM_AVG, "max": DCGM_MAX, "increase": DCGM_INCREASE}

# -- kube-state-metrics, one point per step ---------------------------------------------------
GPU_RESOURCES = "nvidia_com_gpu|nvidia_com_mig_.+"
# Pods that hold or want GPUs: extended-resource requests or DRA claims. Duplicate KSM
# replicas (same series, different instance) collapse in the `max by`.
GPU_PODS = ('(max by (namespace, pod) (max_over_time(kube_pod_container_resource_requests'
            '{{resource=~"' + GPU_RESOURCES + '"{and_sel}}}[{range}] offset 1ms))'
            ' or max by (namespace, pod) (max_over_time(kube_pod_resourceclaim_info{sel}[{range}] offset 1ms)))')
KSM_NODE_INFO = "max_over_time(kube_node_info{sel}[{range}] offset 1ms)"
KSM_NODE_LABELS = "max_over_time(kube_node_labels{sel}[{range}] offset 1ms)"
KSM_NODE_CAPACITY = ('max by (node, resource) (max_over_time(kube_node_status_capacity'
                     '{{resource=~"cpu|memory|' + GPU_RESOURCES + '"{and_sel}}}[{range}] offset 1ms))')
KSM_POD_INFO = "max_over_time(kube_pod_info{sel}[{range}] offset 1ms) and on (namespace, pod) " + GPU_PODS
# GPU pods' requests, summed over containers: the GPU resources, plus cpu (cores) and memory
# (bytes) for fragmentation (a node whose CPU or memory is taken strands its free GPUs).
KSM_POD_REQUESTS = ('sum by (namespace, pod, resource) (max by (namespace, pod, container, resource) '
                    '(max_over_time(kube_pod_container_resource_requests'
                    '{{resource=~"cpu|memory|' + GPU_RESOURCES + '"{and_sel}}}[{range}] offset 1ms)))'
                    ' and on (namespace, pod) ' + GPU_PODS)
KSM_POD_OWNER = "max_over_time(kube_pod_owner{sel}[{range}] offset 1ms) and on (namespace, pod) " + GPU_PODS
KSM_POD_LABELS = "max_over_time(kube_pod_labels{sel}[{range}] offset 1ms) and on (namespace, pod) " + GPU_PODS
KSM_POD_CLAIMS = "max_over_time(kube_pod_resourceclaim_info{sel}[{range}] offset 1ms)"
# Terminated for the whole step (completed Job pods linger as objects but hold no GPU).
KSM_POD_TERMINATED = ('min_over_time(kube_pod_status_phase{{phase=~"Succeeded|Failed"{and_sel}}}'
                      '[{range}] offset 1ms) == 1 and on (namespace, pod) ' + GPU_PODS)
KSM_STEP_QUERIES = {
    "node_info": KSM_NODE_INFO,
    "node_labels": KSM_NODE_LABELS,
    "node_capacity": KSM_NODE_CAPACITY,
    "pod_info": KSM_POD_INFO,
    "pod_requests": KSM_POD_REQUESTS,
    "pod_owner": KSM_POD_OWNER,
    "pod_labels": KSM_POD_LABELS,
    "pod_claims": KSM_POD_CLAIMS,
    "pod_terminated": KSM_POD_TERMINATED,
}

# -- kube-state-metrics, evaluated once per load window (owners and namespace labels) --------
KSM_REPLICASET_OWNER = "max_over_time(kube_replicaset_owner{sel}[{window}] offset 1ms)"
KSM_JOB_OWNER = "max_over_time(kube_job_owner{sel}[{window}] offset 1ms)"
KSM_NAMESPACE_LABELS = "max_over_time(kube_namespace_labels{sel}[{window}] offset 1ms)"
KSM_WINDOW_QUERIES = {
    "replicaset_owner": KSM_REPLICASET_OWNER,
    "job_owner": KSM_JOB_OWNER,
    "namespace_labels": KSM_NAMESPACE_LABELS,
}

# -- discovery ------------------------------------------------------------------------------
# Series selector for /api/v1/label/__name__/values: which DCGM fields the exporter has.
DCGM_NAMES_MATCH = '{{__name__=~"DCGM_FI_.+"{and_sel}}}'

# -- doctor (instant queries) ----------------------------------------------------------------
DOCTOR_DCGM_FIELDS = 'count by (__name__) (last_over_time({{__name__=~"DCGM_FI_.+"{and_sel}}}[{range}]))'
DOCTOR_DCGM_SERIES = "last_over_time({metric}{sel}[{range}])"
DOCTOR_SAMPLES_PER_SERIES = "count_over_time({metric}{sel}[{range}])"
KSM_FAMILIES = ("kube_node_info", "kube_node_labels", "kube_node_status_capacity", "kube_pod_info",
                "kube_pod_owner", "kube_pod_labels", "kube_pod_container_resource_requests",
                "kube_replicaset_owner", "kube_job_owner", "kube_namespace_labels",
                "kube_pod_resourceclaim_info")
DOCTOR_KSM_FAMILIES = ('count by (__name__) (last_over_time({{__name__=~"' + "|".join(KSM_FAMILIES)
                       + '"{and_sel}}}[{range}]))')
DOCTOR_GPU_REQUESTS = ('count(last_over_time(kube_pod_container_resource_requests'
                       '{{resource=~"' + GPU_RESOURCES + '"{and_sel}}}[{range}]))')
DOCTOR_NODE_LABELS = "last_over_time(kube_node_labels{sel}[{range}])"


def render(template: str, selector: str = "", **fields: str) -> str:
    """Fill a template: {sel}/{and_sel} from the selector (matchers without braces, e.g.
    'cluster="prod"'), the other fields as given."""
    selector = selector.strip()
    return template.format(sel="{" + selector + "}" if selector else "",
                           and_sel="," + selector if selector else "", **fields)


def duration(seconds_ms: int) -> str:
    """A PromQL duration for a whole number of milliseconds ('59999ms', '1m', '1d')."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if seconds_ms % size == 0:
            return f"{seconds_ms // size}{unit}"
    return f"{seconds_ms}ms"


def dcgm_query(field: DcgmField, selector: str, range_: str) -> str:
    return render(DCGM_QUERIES[field.agg], selector, metric=field.name, range=range_)
