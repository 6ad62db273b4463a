"""`gpucost collect prometheus` against a real Prometheus holding the simulator's history.

World: SimConfig(gpus=64, days=2, seed=3, step_seconds=300) - 31 nodes (p5, p4d with MIG,
g5, g6 L4 without profiling; spot interruptions replace nodes), 89 devices (65 physical
GPUs incl. replacements), ~320 pods - written by write_openmetrics, backfilled with
promtool, served by /usr/bin/prometheus on 127.0.0.1. The ground truth is
simulate_to_warehouse of the same config into another warehouse.

| table               | rows (truth = collected) |
|---------------------|--------------------------|
| raw_dcgm_samples    | 50,499                   |
| raw_gpu_devices     | 177                      |
| raw_nodes           | 61                       |
| raw_pod_allocations | 357                      |

Known, documented difference: kube-state-metrics has no owner metric for StatefulSets, so
Kubeflow Notebook pods resolve to their StatefulSet (same name) instead of 'Notebook';
label keys come back in kube-state-metrics' sanitised form except the keys gpucost reads.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from gpucost.cli import main
from gpucost.errors import GpucostError
from gpucost.ingest.prometheus import CollectOptions, Connection, PromClient, collect_prometheus
from gpucost.ingest.prometheus.local import LocalPrometheus, backfill, binaries
from gpucost.ingest.simulate import SimConfig, simulate_to_warehouse, write_openmetrics
from gpucost.warehouse import migrate

pytestmark = pytest.mark.skipif(binaries() is None, reason="needs /usr/bin/prometheus and promtool "
                                                           "(Debian package 'prometheus')")
CFG = SimConfig(gpus=64, days=2, seed=3, step_seconds=300)
FIELDS = "gpu_util, gr_engine_active, sm_active, tensor_active, dram_active, fb_used_mib, fb_free_mib, power_w"


def fresh_con(path: Path | str = ":memory:") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("set TimeZone = 'UTC'")
    migrate(con, Path(str(path)))
    return con


@pytest.fixture(scope="module")
def truth():
    con = fresh_con()
    simulate_to_warehouse(con, CFG)
    yield con
    con.close()


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    root = tmp_path_factory.mktemp("prom-sim")
    om = root / "sim.om"
    with om.open("w") as f:
        write_openmetrics(CFG, f)
    backfill(om, root / "data")
    om.unlink()
    with LocalPrometheus(root / "data") as p:
        yield p


def collect(con, url: str, **kw):
    opts = CollectOptions(**{"start": CFG.start, "end": CFG.end, "step_s": CFG.step_seconds, "cluster": CFG.cluster,
                             **kw})
    with PromClient(Connection(url, retries=0)) as client:
        return collect_prometheus(con, client, opts)


@pytest.fixture(scope="module")
def collected(prom):
    con = fresh_con()
    summary = collect(con, prom.url)
    yield con, summary
    con.close()


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def sanitized(labels: dict | None) -> dict:
    return {re.sub(r"[^a-zA-Z0-9_]", "_", k): v for k, v in (labels or {}).items()}


def test_dcgm_samples_equal_ground_truth_at_every_step(truth, collected):
    con, summary = collected
    sql = (f"select ts, gpu_uuid, mig_instance_id, node, gpu_index, device, gpu_model, mig_profile, pod, namespace, "
           f"container, {FIELDS} from raw_dcgm_samples order by ts, gpu_uuid, mig_instance_id")
    want, got = rows(truth, sql), rows(con, sql)
    assert len(want) == len(got) == 50_499
    for w, g in zip(want, got):
        assert g[:11] == w[:11]
        for a, b in zip(w[11:], g[11:]):
            assert (a is None) == (b is None) and (a is None or abs(a - b) < 1e-9), (w, g)
    # missing samples stay missing: L4 has no PROF fields, MIG slices no GPU_UTIL
    assert rows(con, "select count(*) from raw_dcgm_samples where gpu_model = 'NVIDIA L4' "
                     "and gr_engine_active is not null")[0][0] == 0
    assert rows(con, "select count(*) from raw_dcgm_samples where mig_instance_id is not null "
                     "and gpu_util is not null")[0][0] == 0
    assert summary.gpus == 65 and summary.devices == 89 and summary.nodes == 31
    assert rows(con, "select distinct source from raw_dcgm_samples") == [("prometheus:demo",)]


def test_devices_and_nodes_equal_ground_truth(truth, collected):
    con, _ = collected
    for table, cols in (("raw_gpu_devices", "node, valid_from, valid_to, device_id, gpu_index, gpu_uuid, gpu_model, "
                                            "mig_instance_id, mig_profile, mem_total_bytes"),
                        ("raw_nodes", "node, valid_from, valid_to, instance_type, capacity_type, region, zone, "
                                      "gpu_model, gpu_count, cpu_cores, memory_bytes, provider_id")):
        sql = f"select {cols} from {table} order by all"
        assert rows(con, sql) == rows(truth, sql), table
    labels = "select node, valid_from, labels from raw_nodes order by node, valid_from"
    for (n1, v1, want), (n2, v2, got) in zip(rows(truth, labels), rows(con, labels)):
        assert (n1, v1) == (n2, v2) and sanitized(want) == sanitized(got)
        assert got["node.kubernetes.io/instance-type"] == want["node.kubernetes.io/instance-type"]


def test_pod_allocations_equal_ground_truth(truth, collected):
    con, _ = collected
    sql = ("select namespace, pod, node, valid_from, valid_to, gpu_request, mig_profile, list_sort(devices), "
           "owner_kind, owner_name, labels, cpu_request_cores, memory_request_bytes "
           "from raw_pod_allocations order by namespace, pod, valid_from")
    want, got = rows(truth, sql), rows(con, sql)
    assert len(want) == len(got) == 357
    for w, g in zip(want, got):
        assert g[:8] == w[:8] and g[9] == w[9]
        assert g[8] == ("StatefulSet" if w[8] == "Notebook" else w[8])
        assert sanitized(g[10]) == sanitized(w[10]) and g[10].get("team") == w[10].get("team")
        assert g[11:] == w[11:] and w[11] > 0 and w[12] > 0        # CPU and memory requests
    kinds = {r[0] for r in rows(con, "select distinct owner_kind from raw_pod_allocations")}
    assert {"Deployment", "PyTorchJob", "StatefulSet"} <= kinds        # ReplicaSets resolved to Deployments


def test_recollecting_an_overlapping_range_replaces_rows(prom, truth, tmp_path):
    con = fresh_con(tmp_path / "w.duckdb")
    collect(con, prom.url)
    before = {t: rows(con, f"select * exclude (source) from {t} order by all")
              for t in ("raw_dcgm_samples", "raw_gpu_devices", "raw_nodes", "raw_pod_allocations")}
    again = collect(con, prom.url, start=CFG.start + timedelta(hours=30), end=CFG.start + timedelta(hours=31))
    assert (again.window_start, again.window_end) == (CFG.start + timedelta(days=1), CFG.end)  # widened to the load
    for t, want in before.items():
        assert rows(con, f"select * exclude (source) from {t} order by all") == want, t


def test_watermark_resumes_where_the_last_collection_ended(prom, truth):
    con = fresh_con()
    first = collect(con, prom.url, end=CFG.start + timedelta(hours=13, minutes=20))
    second = collect(con, prom.url, start=None)
    assert first.window_end == second.window_start == CFG.start + timedelta(hours=13, minutes=20)
    assert second.window_end == CFG.end
    sql = f"select ts, gpu_uuid, mig_instance_id, pod, {FIELDS} from raw_dcgm_samples order by all"
    assert rows(con, sql) == rows(truth, sql)


def test_ranges_are_split_under_the_points_limit(prom, truth):
    con = fresh_con()
    day = CFG.start + timedelta(days=1)
    summary = collect(con, prom.url, start=day, end=CFG.end, max_points=50)     # 288 steps -> 6 requests per query
    assert summary.requests >= 6 * 16
    sql = f"select ts, gpu_uuid, mig_instance_id, pod, {FIELDS} from raw_dcgm_samples where ts >= ? order by all"
    assert con.execute(sql, [day]).fetchall() == truth.execute(sql, [day]).fetchall()


def test_real_prometheus_answers_take_the_fast_parse(prom):
    """Prometheus' compact JSON is what matrix._parse_matrix_fast expects: if a release changed
    the layout, collection would still work (the plain path) but 2x slower - this says so."""
    from gpucost.ingest.prometheus.matrix import _parse_matrix_fast, _parse_matrix_plain
    from gpucost.ingest.prometheus.queries import FIELDS_BY_NAME, dcgm_query

    start = int((CFG.start - datetime(1970, 1, 1)).total_seconds())
    query = dcgm_query(FIELDS_BY_NAME["DCGM_FI_DEV_GPU_UTIL"], "", "299999ms")
    with PromClient(Connection(prom.url, retries=0)) as client:
        body = client.get("/api/v1/query_range", {"query": query, "start": start, "end": start + 86_100,
                                                  "step": 300}, "probe")
    fast, plain = _parse_matrix_fast(body, "probe"), _parse_matrix_plain(body, "probe", None)
    assert fast is not None and fast.samples > 10_000
    assert fast.labels == plain.labels and fast.ts.tolist() == plain.ts.tolist()
    assert fast.values.tolist() == plain.values.tolist()


def test_prometheus_refuses_more_than_11000_points_and_the_error_is_clear(prom):
    with PromClient(Connection(prom.url, retries=0)) as client:
        start = int((CFG.start - datetime(1970, 1, 1)).total_seconds()) * 1000
        client.query_range("vector(1)", start, start + 11_000_000, 1000, "probe")     # 11,001 points: the edge
        with pytest.raises(GpucostError, match=r"probe: HTTP 400 .*11,?000"):
            client.query_range("vector(1)", start, start + 11_001_000, 1000, "probe")


def test_cli_collects_and_prints_a_summary(prom, tmp_path, capsys):
    db = tmp_path / "cli.duckdb"
    code = main(["--db", str(db), "collect", "prometheus", "--url", prom.url, "--start", "2026-11-03",
                 "--end", "2026-11-04", "--step", "5m", "--cluster", "demo", "--no-progress"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "collected 2026-11-03 00:00..2026-11-04 00:00 UTC (1 window, step 300 s)" in out.out
    assert re.search(r"\d+ GPUs \(\d+ devices\), \d+ nodes, \d+ pods in [\d.]+ s", out.out)
    code = main(["--db", str(db), "collect", "prometheus", "--url", prom.url, "--step", "7s"])
    assert code == 1 and "--step must divide a day" in capsys.readouterr().err
