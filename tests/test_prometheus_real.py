"""Real dcgm-exporter and kube-state-metrics text through a real Prometheus into the warehouse.

Captures (../shared/data, read in place): dcgm/real-metrics-samples - 8x H100 80GB HBM3 on
EKS node ip-100-64-171-120 (2026-02-19: pod vllm-agg-0-vllmdecodeworker-5fljt on gpu="6",
the only GPU with pod labels; 2026-02-24: no pod labels), Tesla T4 on node cp-bm14r7, NVIDIA
L4 on i-030791dc5a37cd257 (two scrapes in one file) - and kube-state-metrics exposition
from its own tests (node 127.0.0.1 with 4 nvidia_com_gpu, pod ns1/pod1 requesting one GPU).
Each capture is replayed as scrapes every 60 s for 20 minutes from 2026-02-19 00:00 UTC:
the H100 node's 02-19 capture for the first 10 minutes, its 02-24 capture for the next 10
(the pod goes away). The T4 capture is replayed with its `Hostname` label renamed to
`hostname`, the spelling of newer exporters (no real capture has it), so both spellings
come through.

| what                               | expected                                      |
|------------------------------------|-----------------------------------------------|
| GPU devices                        | 10: 8 H100, 1 T4, 1 L4                        |
| nodes (DCGM)                       | ip-100-64-171-120.ec2.internal, cp-bm14r7, i-030791dc5a37cd257 |
| H100 rows with the pod             | gpu 6, minutes 0-9                            |
| pod allocation from DCGM only      | dynamo-workload/vllm-agg-0-..., [00:00, 00:10), devices [GPU-ca1b8386-...] |
| KSM node 127.0.0.1                 | gpu_count 4, cpu 4.3                          |
| KSM pod ns1/pod1 (never on a GPU)  | gpu_request 1, node node1, devices NULL       |
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from gpucost.ingest.prometheus import CollectOptions, Connection, PromClient, collect_prometheus
from gpucost.ingest.prometheus.local import LocalPrometheus, backfill, binaries, parse_exposition, replay_openmetrics
from gpucost.warehouse import migrate

pytestmark = pytest.mark.skipif(binaries() is None, reason="needs /usr/bin/prometheus and promtool "
                                                           "(Debian package 'prometheus')")
T0 = datetime(2026, 2, 19)
H100_POD = "vllm-agg-0-vllmdecodeworker-5fljt"
H100_GPU6 = "GPU-ca1b8386-093b-60cc-349d-c4a38b9124c0"
KSM_FAMILIES = ("kube_node_info", "kube_node_status_capacity", "kube_pod_info", "kube_pod_owner", "kube_pod_labels",
                "kube_pod_container_resource_requests", "kube_replicaset_owner", "kube_pod_status_phase")


def read(path: Path) -> list:
    if not path.is_file():
        pytest.skip(f"real capture not found: {path}")
    return parse_exposition(path.read_text())


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    from conftest import shared_data_dir

    data = shared_data_dir()
    if not data.is_dir():
        pytest.skip(f"real public data not found at {data} (set GPUCOST_SHARED_DATA)")
    samples = data / "dcgm" / "real-metrics-samples"
    h100_a = read(samples / "nvidia-aicr_h100x8_2026-02-19.prom")
    h100_b = read(samples / "nvidia-aicr_h100x8_2026-02-24.prom")
    t4 = [(n, {("hostname" if k == "Hostname" else k): v for k, v in lab.items()}, v)
          for n, lab, v in read(samples / "cncf-k8s-ai-conformance_v1.35_ericsson-ccd_Tesla-T4.prom")]
    l4 = read(samples / "cncf-k8s-ai-conformance_v1.35_kops_NVIDIA-L4.prom")
    ksm = [s for f in sorted((data / "k8s" / "kube-state-metrics" / "extracted-exposition").glob("*.prom"))
           for s in read(f) if s[0] in KSM_FAMILIES]
    epoch = int((T0 - datetime(1970, 1, 1)).total_seconds())
    timeline = [(epoch + 60 * i, (h100_a if i < 10 else h100_b) + t4 + l4 + ksm) for i in range(20)]
    root = tmp_path_factory.mktemp("prom-real")
    om = root / "real.om"
    om.write_text(replay_openmetrics(timeline))
    backfill(om, root / "data")
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    migrate(con, Path(":memory:"))
    with LocalPrometheus(root / "data") as prom, PromClient(Connection(prom.url, retries=0)) as client:
        summary = collect_prometheus(con, client, CollectOptions(start=T0, end=T0 + timedelta(minutes=20),
                                                                 step_s=60, cluster="real"))
    yield con, summary
    con.close()


def q(con, sql: str, *params) -> list[tuple]:
    return con.execute(sql, list(params)).fetchall()


def test_gpus_models_and_both_node_label_spellings(collected):
    con, summary = collected
    assert q(con, "select gpu_model, count(*) from raw_gpu_devices group by 1 order by 1") == [
        ("NVIDIA H100 80GB HBM3", 8), ("NVIDIA L4", 1), ("Tesla T4", 1)]
    assert q(con, "select node, count(distinct gpu_uuid) from raw_dcgm_samples group by 1 order by 1") == [
        ("cp-bm14r7", 1), ("i-030791dc5a37cd257", 1), ("ip-100-64-171-120.ec2.internal", 8)]
    assert q(con, "select count(*) from raw_dcgm_samples") == [(10 * 20,)]     # every device at every minute
    assert summary.gpus == 10
    assert any("in DCGM but not in kube-state-metrics" in w for w in summary.warnings)


def test_the_pod_on_the_h100_comes_through_and_leaves(collected):
    con, _ = collected
    assert q(con, "select distinct gpu_index, gpu_uuid, namespace, pod, container from raw_dcgm_samples "
                  "where pod is not null") == [(6, H100_GPU6, "dynamo-workload", H100_POD, "main")]
    assert q(con, "select min(ts), max(ts) from raw_dcgm_samples where pod is not null") == [
        (T0, T0 + timedelta(minutes=9))]
    assert q(con, "select node, valid_from, valid_to, devices, gpu_request from raw_pod_allocations where pod = ?",
             H100_POD) == [("ip-100-64-171-120.ec2.internal", T0, T0 + timedelta(minutes=10), [H100_GPU6], None)]


def test_values_come_through_unchanged(collected):
    con, _ = collected
    h100 = "GPU-22dbdd79-f55a-92a8-aa39-322198e72ed6"
    assert q(con, "select distinct power_w from raw_dcgm_samples where gpu_uuid = ? and ts < ?", h100,
             T0 + timedelta(minutes=10)) == [(67.268,)]
    assert q(con, "select distinct power_w from raw_dcgm_samples where gpu_uuid = ? and ts >= ?", h100,
             T0 + timedelta(minutes=10)) == [(67.351,)]
    assert q(con, "select distinct gpu_util, gr_engine_active, tensor_active, fb_used_mib, fb_free_mib "
                  "from raw_dcgm_samples where gpu_model = 'Tesla T4'") == [(91.0, 0.156205, 0.005822, 5120.0, 9791.0)]
    # schema v6 fields come through too: the H100's temperature, per capture
    assert q(con, "select distinct gpu_temp_c from raw_dcgm_samples where gpu_uuid = ? and ts < ?", h100,
             T0 + timedelta(minutes=10)) == [(26.0,)]
    # the H100 captures have no FB or PROF fields: missing stays missing
    assert q(con, "select count(fb_used_mib), count(gr_engine_active) from raw_dcgm_samples "
                  "where gpu_model like '%H100%'") == [(0, 0)]
    assert q(con, "select mem_total_bytes from raw_gpu_devices where gpu_model = 'Tesla T4'") == [
        ((5120 + 9791) * 1048576,)]


def test_kube_state_metrics_node_and_a_gpu_pod_never_seen_on_a_device(collected):
    con, summary = collected
    assert q(con, "select node, gpu_count, cpu_cores, valid_from, valid_to from raw_nodes") == [
        ("127.0.0.1", 4, 4.3, T0, T0 + timedelta(minutes=20))]
    assert q(con, "select provider_id from raw_nodes")[0][0] in ("provider://i-uniqueid",
                                                                 "provider://i-randomidentifier")
    assert q(con, "select node, gpu_request, devices, owner_kind from raw_pod_allocations "
                  "where namespace = 'ns1' and pod = 'pod1'") == [("node1", 1, None, None)]
    assert any("never seen on a device" in w for w in summary.warnings)
