"""`gpucost doctor`: findings on a real Prometheus and on the warehouse.

One Prometheus holds two clusters told apart by a `cluster` label (10 minutes of samples
every 15 s, ending 2026-03-10 12:00 UTC; doctor runs with --time 12:00):
- cluster "good": GPU_UTIL + PROF_GR_ENGINE_ACTIVE with pod labels, a MIG slice with
  GR_ENGINE_ACTIVE, kube-state-metrics with node labels -> exit 0;
- cluster "bad": GPU_UTIL only (no PROF), no pod labels, a MIG slice, no kube-state-metrics
  -> exit 1 with two problems (MIG without activity, no kube-state-metrics) and warnings
  (GPU_UTIL fallback, no pod labels).
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest

from gpucost.cli import main
from gpucost.ingest.prometheus.local import LocalPrometheus, backfill, binaries, replay_openmetrics

END = datetime(2026, 3, 10, 12)
EPOCH_END = int((END - datetime(1970, 1, 1)).total_seconds())
needs_prometheus = pytest.mark.skipif(binaries() is None, reason="needs /usr/bin/prometheus and promtool "
                                                                 "(Debian package 'prometheus')")


def scrape(cluster: str) -> list:
    gpu = {"gpu": "0", "UUID": f"GPU-{cluster}-0", "device": "nvidia0", "modelName": "NVIDIA A100-SXM4-40GB",
           "Hostname": f"{cluster}-node", "cluster": cluster}
    mig = {**gpu, "gpu": "1", "UUID": f"GPU-{cluster}-1", "device": "nvidia1", "GPU_I_ID": "9",
           "GPU_I_PROFILE": "1g.5gb"}
    s = [("DCGM_FI_DEV_GPU_UTIL", gpu, "40"), ("DCGM_FI_DEV_FB_USED", gpu, "1000"),
         ("DCGM_FI_DEV_FB_USED", mig, "100")]
    if cluster == "good":
        pod = {"pod": "p", "namespace": "ns", "container": "c"}
        s = [(n, {**lab, **pod}, v) for n, lab, v in s]
        s += [("DCGM_FI_PROF_GR_ENGINE_ACTIVE", {**gpu, **pod}, "0.4"), ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", mig, "0.1")]
        node = {"node": "good-node", "cluster": cluster}
        s += [("kube_node_info", {**node, "provider_id": "aws:///us-east-1a/i-1"}, "1"),
              ("kube_node_labels", {**node, "label_node_kubernetes_io_instance_type": "p4d.24xlarge"}, "1"),
              ("kube_node_status_capacity", {**node, "resource": "nvidia_com_gpu", "unit": "integer"}, "2"),
              ("kube_pod_info", {"namespace": "ns", "pod": "p", "node": "good-node", "cluster": cluster}, "1"),
              ("kube_pod_owner", {"namespace": "ns", "pod": "p", "owner_kind": "Job", "owner_name": "j",
                                  "cluster": cluster}, "1"),
              ("kube_pod_container_resource_requests", {"namespace": "ns", "pod": "p", "container": "c",
                                                        "resource": "nvidia_com_gpu", "cluster": cluster}, "1"),
              ("kube_replicaset_owner", {"namespace": "ns", "replicaset": "r", "owner_kind": "Deployment",
                                         "owner_name": "d", "cluster": cluster}, "1"),
              ("kube_job_owner", {"namespace": "ns", "job_name": "j", "owner_kind": "", "owner_name": "",
                                  "cluster": cluster}, "1")]
    return s


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    if binaries() is None:
        pytest.skip("needs /usr/bin/prometheus and promtool (Debian package 'prometheus')")
    root = tmp_path_factory.mktemp("prom-doctor")
    timeline = [(EPOCH_END - 600 + 15 * i, scrape("good") + scrape("bad")) for i in range(40)]
    (root / "d.om").write_text(replay_openmetrics(timeline))
    backfill(root / "d.om", root / "data")
    with LocalPrometheus(root / "data") as p:
        yield p


def doctor(tmp_path, prom, cluster: str, capsys) -> tuple[int, str, str]:
    code = main(["--db", str(tmp_path / "none.duckdb"), "doctor", "--prometheus", prom.url,
                 "--selector", f'cluster="{cluster}"', "--time", "2026-03-10T12:00", "--retries", "0"])
    out = capsys.readouterr()
    return code, out.out, out.err


@needs_prometheus
def test_healthy_cluster(prom, tmp_path, capsys):
    code, out, err = doctor(tmp_path, prom, "good", capsys)
    assert code == 0, out + err
    assert "reachable, version 2." in out
    assert "stored: DCGM_FI_DEV_GPU_UTIL, DCGM_FI_PROF_GR_ENGINE_ACTIVE, DCGM_FI_DEV_FB_USED" in out
    assert "2 GPUs on 1 nodes" in out and "node label: Hostname (2)" in out
    assert "pod labels on 2 of 2" in out and "1 MIG instances with DCGM_FI_PROF_GR_ENGINE_ACTIVE" in out
    assert "scrape interval about 15 s" in out
    assert "FAIL" not in out and "no warehouse at" in out


@needs_prometheus
def test_degraded_cluster_lists_its_problems(prom, tmp_path, capsys):
    code, out, err = doctor(tmp_path, prom, "bad", capsys)
    assert code == 1
    assert "warn  DCGM_FI_PROF_GR_ENGINE_ACTIVE missing: activity falls back to DCGM_FI_DEV_GPU_UTIL" in out
    assert "warn  no DCGM series carries pod labels" in out
    assert "FAIL  1 MIG instances but no DCGM_FI_PROF_GR_ENGINE_ACTIVE" in out and "unsupported on MIG" in out
    assert "FAIL  kube-state-metrics not found" in out
    assert err.startswith("gpucost: error: 2 problem(s): ") and err.count("\n") == 1


def test_unreachable_prometheus_fails(tmp_path, capsys):
    from gpucost.ingest.prometheus.local import free_port

    code = main(["--db", str(tmp_path / "none.duckdb"), "doctor", "--prometheus",
                 f"http://127.0.0.1:{free_port()}", "--retries", "0"])
    out = capsys.readouterr()
    assert code == 1 and "FAIL  Prometheus not reachable" in out.out and "connection refused" in out.err


def test_warehouse_report(tmp_path, capsys):
    from gpucost.ingest.simulate import SimConfig, simulate_to_warehouse
    from gpucost.settings import Settings
    from gpucost.warehouse import open_warehouse

    db = tmp_path / "w.duckdb"
    with open_warehouse(Settings(db=db), create=True) as con:
        simulate_to_warehouse(con, SimConfig(gpus=8, days=1, step_seconds=600))
    assert main(["--db", str(db), "doctor"]) == 0
    out = capsys.readouterr().out
    assert "ok    warehouse" in out and "schema version" in out
    assert "loads simulator: 1 windows up to 2026-11-03 00:00 UTC" in out
    assert "warn  never built" in out and "Prometheus not checked" in out
    foreign = tmp_path / "foreign.duckdb"
    duckdb.connect(str(foreign)).execute("create table t (x int)").close()
    assert main(["--db", str(foreign), "doctor"]) == 1
    assert "not a gpucost warehouse" in capsys.readouterr().out


def test_doctor_reports_the_gap_to_the_bill(tmp_path):
    from dataclasses import replace as with_

    from gpucost.build import build
    from gpucost.commands.doctor import warehouse_findings
    from gpucost.ingest.loads import load_tables
    from gpucost.settings import CostSplit, Settings
    from gpucost.warehouse import open_warehouse
    from test_models import WINDOW, billing_lines, load_world

    settings = with_(Settings(db=tmp_path / "w.duckdb"), step_seconds=3600, cost=CostSplit(gpu_share=0.5))
    with open_warehouse(settings, create=True) as con:
        load_world(con)
        load_tables(con, "bill.csv", WINDOW, [("raw_billing_line_items", billing_lines())])
        build(con, settings)
    findings = [f for f in warehouse_findings(settings) if "bill vs computed" in f.message]
    assert len(findings) == 1
    # billed instances: i-0aaa ($5.50 effective, node computed $130.284) and i-0zzz ($50, unseen)
    assert "effective $55.50, computed $130.28" in findings[0].message
    assert findings[0].level == "warning" and "1 billed, node not seen in telemetry" in findings[0].message
