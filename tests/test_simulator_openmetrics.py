"""write_openmetrics: valid OpenMetrics with dcgm-exporter / kube-state-metrics conventions,
carrying exactly the rows simulate_to_warehouse writes for the same config.

Config: 32 GPUs (p5, MIG p4d, g5, g6) for 12 h at a 600 s step, so the text stays small
(prometheus_client's parser takes ~0.1 ms per line).
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from gpucost.ingest.simulate import SimConfig, simulate_to_warehouse, write_openmetrics
from gpucost.warehouse import migrate

CFG = SimConfig(gpus=32, days=0.5, seed=4, step_seconds=600)
DCGM_FIELDS = {
    "DCGM_FI_DEV_GPU_UTIL": "gpu_util", "DCGM_FI_PROF_GR_ENGINE_ACTIVE": "gr_engine_active",
    "DCGM_FI_PROF_SM_ACTIVE": "sm_active", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": "tensor_active",
    "DCGM_FI_PROF_DRAM_ACTIVE": "dram_active", "DCGM_FI_DEV_FB_USED": "fb_used_mib",
    "DCGM_FI_DEV_FB_FREE": "fb_free_mib", "DCGM_FI_DEV_POWER_USAGE": "power_w",
}
EPOCH0 = (CFG.start - datetime(1970, 1, 1)).total_seconds()


@pytest.fixture(scope="module")
def exposition():
    buf = io.StringIO()
    write_openmetrics(CFG, buf)
    text = buf.getvalue()
    return text, {f.name: f for f in text_string_to_metric_families(text)}


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute("set TimeZone = 'UTC'")
    migrate(c, Path(":memory:"))
    simulate_to_warehouse(c, CFG)
    yield c
    c.close()


def test_text_is_openmetrics_for_promtool(exposition):
    text, families = exposition
    assert text.endswith("# EOF\n") and text.count("# EOF") == 1
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types)) == len(families)          # each family once, contiguous
    for family in families.values():
        assert family.type == "gauge"
        last: dict[tuple, float] = {}
        for s in family.samples:
            key = tuple(sorted(s.labels.items()))
            assert s.timestamp is not None
            t = float(s.timestamp)
            assert EPOCH0 <= t < EPOCH0 + CFG.n_steps * CFG.step_seconds   # seconds, not ms
            assert t > last.get(key, -math.inf)                              # in time order
            last[key] = t
    assert set(DCGM_FIELDS) | {"kube_node_labels", "kube_node_info", "kube_node_status_capacity", "kube_pod_info",
                               "kube_pod_owner", "kube_pod_labels", "kube_pod_container_resource_requests"} \
        <= set(families)


def test_dcgm_samples_equal_warehouse_rows(exposition, con):
    families = exposition[1]
    rows = con.execute("""select epoch(ts)::bigint, gpu_uuid, mig_instance_id, node, gpu_index, gpu_model, mig_profile,
                                 pod, namespace, container, """ + ", ".join(DCGM_FIELDS.values()) +
                       " from raw_dcgm_samples").fetchall()
    expected = {}
    for r in rows:
        for i, metric in enumerate(DCGM_FIELDS):
            if r[10 + i] is not None:
                expected[(metric, r[1], r[2], r[0])] = (r[10 + i], r[3], r[4], r[5], r[6], r[7], r[8], r[9])
    seen = {}
    for metric in DCGM_FIELDS:
        for s in families[metric].samples:
            lab = s.labels
            mig = int(lab["GPU_I_ID"]) if "GPU_I_ID" in lab else None
            seen[(metric, lab["UUID"], mig, int(float(s.timestamp)))] = (
                s.value, lab["Hostname"], int(lab["gpu"]), lab["modelName"], lab.get("GPU_I_PROFILE"),
                lab.get("pod"), lab.get("namespace"), lab.get("container"))
            assert lab["device"] == f"nvidia{lab['gpu']}"
    assert seen.keys() == expected.keys()
    for key, want in expected.items():
        got = seen[key]
        assert got[0] == pytest.approx(want[0], abs=1e-9), key
        assert got[1:] == want[1:], key
    # MIG slices have no GPU_UTIL series, L4 GPUs no PROF series
    assert all("GPU_I_ID" not in s.labels for s in families["DCGM_FI_DEV_GPU_UTIL"].samples)
    assert any("GPU_I_ID" in s.labels for s in families["DCGM_FI_PROF_SM_ACTIVE"].samples)
    assert all(s.labels["modelName"] != "NVIDIA L4" for s in families["DCGM_FI_PROF_SM_ACTIVE"].samples)


def test_kube_state_metrics_agree_with_warehouse(exposition, con):
    families = exposition[1]
    nodes = dict(con.execute("select distinct node, provider_id from raw_nodes").fetchall())
    info = {s.labels["node"]: s.labels["provider_id"] for s in families["kube_node_info"].samples}
    assert info == nodes
    labels = {s.labels["node"]: s.labels for s in families["kube_node_labels"].samples}
    for node, lab in labels.items():
        assert lab["label_node_kubernetes_io_instance_type"] and lab["label_topology_kubernetes_io_zone"]
        assert lab["label_karpenter_sh_capacity_type"] in ("spot", "on-demand")
    capacity = defaultdict(dict)
    for s in families["kube_node_status_capacity"].samples:
        capacity[s.labels["node"]][s.labels["resource"]] = s.value
    for node, gpus, mig in con.execute("""select distinct node, gpu_count,
            map_contains(labels, 'nvidia.com/mig.config') from raw_nodes""").fetchall():
        assert capacity[node]["nvidia_com_gpu"] == (0 if mig else gpus)
        if mig:
            assert sum(v for k, v in capacity[node].items() if k.startswith("nvidia_com_mig_")) > gpus
    pods = {(ns, pod): node for ns, pod, node in
            con.execute("select distinct namespace, pod, node from raw_pod_allocations").fetchall()}
    placed = {(s.labels["namespace"], s.labels["pod"]): s.labels["node"] for s in families["kube_pod_info"].samples}
    assert placed == pods
    requests = defaultdict(dict)
    for s in families["kube_pod_container_resource_requests"].samples:
        requests[(s.labels["namespace"], s.labels["pod"])][s.labels["resource"]] = s.value
    for ns, pod, gpus, profile, cpu, memory in con.execute(
            "select distinct namespace, pod, gpu_request, mig_profile, cpu_request_cores, memory_request_bytes "
            "from raw_pod_allocations").fetchall():
        gpu = {"nvidia_com_mig_" + profile.replace(".", "_"): 1} if profile else {"nvidia_com_gpu": gpus}
        assert requests[(ns, pod)] == gpu | {"cpu": cpu, "memory": memory}
    owners = {s.labels["owner_kind"] for s in families["kube_pod_owner"].samples}
    assert "ReplicaSet" in owners and "StatefulSet" in owners
    teams = {s.labels.get("label_team") for s in families["kube_pod_labels"].samples}
    assert "research" in teams or "nlp" in teams or "vision" in teams
    rs_owner = {s.labels["owner_kind"] for s in families["kube_replicaset_owner"].samples}
    assert rs_owner == {"Deployment"}


def test_pod_series_cover_allocated_steps_only(exposition, con):
    families = exposition[1]
    spans = con.execute("select namespace, pod, min(valid_from), max(valid_to) from raw_pod_allocations group by 1, 2")
    for ns, pod, start, end in spans.fetchall():
        ts = [s.timestamp for s in families["kube_pod_info"].samples
              if s.labels["pod"] == pod and s.labels["namespace"] == ns]
        first = datetime(1970, 1, 1) + timedelta(seconds=float(min(ts)))
        last = datetime(1970, 1, 1) + timedelta(seconds=float(max(ts)))
        assert first == start and last == end - timedelta(seconds=CFG.step_seconds)


def test_promtool_backfills_every_sample(exposition, tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    text, families = exposition
    path = tmp_path / "sim.om"
    path.write_text(text)
    out = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=168h",
                          str(path), str(tmp_path / "tsdb")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    # rows: ULID, MIN TIME, MAX TIME, DURATION, NUM SAMPLES, NUM CHUNKS, NUM SERIES, SIZE
    blocks = [line.split() for line in out.stdout.splitlines()[1:] if line.strip()]
    assert blocks and sum(int(b[4]) for b in blocks) == sum(len(f.samples) for f in families.values())
    assert min(int(b[1]) for b in blocks) == int(EPOCH0 * 1000)      # milliseconds = our seconds x 1000
