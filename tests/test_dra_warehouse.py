"""DRA claims into the warehouse: `gpucost collect kubernetes FILE...` on the real cluster
dumps (../shared/data/k8s/dra/real-cluster-dumps), and the build giving a pod its claim's GPU.

World (hourly steps, 2026-11-02 00-02h): node conformance-test-np1-qcqc8-bpdtl-wv2gs (priced as
a g5.xlarge: the dump's VKS cluster is not on AWS) with GPU-44d2411e-...; pod
dra-gpu-example-798fccd4d-sfl2p (ns gpu-test1) on it per kube-state-metrics, but no collector
saw which GPU it used (devices null). Before the claims are collected the GPU is unallocated;
after, the pod holds it: 2 steps active.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from gpucost.build import build
from gpucost.cli import main
from gpucost.ingest.loads import Window, load_tables
from gpucost.warehouse import open_warehouse

DAY = datetime(2026, 11, 2)
NODE = "conformance-test-np1-qcqc8-bpdtl-wv2gs"
GPU = "GPU-44d2411e-1604-478f-aa96-5a3c00000000"
POD = "dra-gpu-example-798fccd4d-sfl2p"


def world() -> list[tuple[str, pa.Table]]:
    span = dict(cluster="default", node=NODE, valid_from=DAY, valid_to=DAY + timedelta(hours=2))
    return [
        ("raw_nodes", pa.Table.from_pylist([span | dict(instance_type="g5.xlarge", gpu_count=1)])),
        ("raw_gpu_devices", pa.Table.from_pylist([span | dict(device_id=GPU, gpu_index=0, gpu_uuid=GPU)])),
        ("raw_dcgm_samples", pa.Table.from_pylist([dict(ts=DAY + timedelta(hours=i), cluster="default", node=NODE,
                                                        gpu_uuid=GPU, gpu_util=40.0) for i in range(2)])),
        ("raw_pod_allocations", pa.Table.from_pylist([span | dict(namespace="gpu-test1", pod=POD, devices=None)],
                                                     schema=pa.schema([
            ("cluster", pa.string()), ("node", pa.string()), ("valid_from", pa.timestamp("us")),
            ("valid_to", pa.timestamp("us")), ("namespace", pa.string()), ("pod", pa.string()),
            ("devices", pa.list_(pa.string()))]))),
    ]


def held(con) -> list[tuple]:
    return con.execute("select pod, state::varchar, count(*) from gpu_usage group by all order by all").fetchall()


@pytest.mark.shared_data
def test_collected_claims_give_the_pod_its_gpu(shared_data, settings, capsys):
    s = replace(settings, step_seconds=3600)
    files = sorted((shared_data / "k8s/dra/real-cluster-dumps/cncf-k8s-ai-conformance/extracted").glob("*"))
    window = Window(DAY, DAY + timedelta(days=1))
    with open_warehouse(s, create=True) as con:
        load_tables(con, "ksm", window, world())
        build(con, s, window)
        assert held(con) == [(None, "unallocated", 2)]
    assert main(["--db", str(s.db), "collect", "kubernetes", *map(str, files)]) == 0
    assert "1 claim allocations -> 1 GPU allocation rows" in capsys.readouterr().out
    with open_warehouse(s) as con:
        assert con.execute("select namespace, pod, device_id, node from raw_dra_allocations").fetchall() == [
            ("gpu-test1", POD, GPU, NODE)]
        build(con, s, window)
        assert held(con) == [(POD, "active", 2)]


def test_files_and_a_cluster_are_exclusive(settings, tmp_path, capsys):
    f = tmp_path / "x.yaml"
    f.write_text("kind: List\nitems: []\n")
    assert main(["--db", str(settings.db), "collect", "kubernetes", str(f), "--in-cluster"]) == 1
    assert "not both" in capsys.readouterr().err
    assert main(["--db", str(settings.db), "collect", "kubernetes", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml: no such file" in capsys.readouterr().err
