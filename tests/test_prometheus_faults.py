"""Faults between gpucost and a real Prometheus: 5xx, malformed answers, a crash, bad samples.

World (backfilled, a sample a minute from 2026-03-02 00:00 to 2026-03-03 01:00 UTC - two
load windows; most tests collect the first two hours):
| node   | gpu | labels                                   | samples                                   |
|--------|-----|------------------------------------------|-------------------------------------------|
| node-a | 0   | pod train-0 (ns ml, container main)      | every minute, GPU_UTIL 50, POWER 300      |
| node-a | 1   | no pod labels                            | every minute, GPU_UTIL 0, POWER 60        |
| node-b | 0   | no pod; also scraped by a 2nd job (dup.) | GPU_UTIL NaN at minute 5, +Inf at 6       |
| node-b | 1   | no pod                                   | nothing in minutes 10-19 (a gap)          |
kube-state-metrics: both nodes (2 GPUs each), pod ml/train-0 on node-a requesting 1 GPU.
A fault-injecting HTTP proxy on loopback sits in front of Prometheus where a test needs one.
"""

from __future__ import annotations

import http.client
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from gpucost.cli import main
from gpucost.commands import collect_prometheus as cli_module
from gpucost.errors import GpucostError
from gpucost.ingest.prometheus import CollectOptions, Connection, PromClient, collect_prometheus
from gpucost.ingest.prometheus.local import LocalPrometheus, backfill, binaries, replay_openmetrics
from gpucost.warehouse import migrate

pytestmark = pytest.mark.skipif(binaries() is None, reason="needs /usr/bin/prometheus and promtool "
                                                           "(Debian package 'prometheus')")
T0 = datetime(2026, 3, 2)
EPOCH = int((T0 - datetime(1970, 1, 1)).total_seconds())
MINUTES = 25 * 60   # through 2026-03-03 01:00


def dcgm(node: str, gpu: int, extra: dict | None = None) -> dict:
    return {"gpu": str(gpu), "UUID": f"GPU-{node}-{gpu}", "device": f"nvidia{gpu}", "modelName": "NVIDIA A10G",
            "Hostname": node, **(extra or {})}


def world() -> str:
    timeline = []
    for i in range(MINUTES):
        s = []
        for field, a0, a1, b0, b1 in (("DCGM_FI_DEV_GPU_UTIL", "50", "0", "30", "20"),
                                      ("DCGM_FI_DEV_POWER_USAGE", "300", "60", "150", "140")):
            s.append((field, dcgm("node-a", 0, {"pod": "train-0", "namespace": "ml", "container": "main"}), a0))
            s.append((field, dcgm("node-a", 1), a1))
            b0v = {5: "NaN", 6: "+Inf"}.get(i, b0) if field == "DCGM_FI_DEV_GPU_UTIL" else b0
            s.append((field, dcgm("node-b", 0), b0v))
            s.append((field, dcgm("node-b", 0, {"job": "dcgm-second-scrape"}), b0v))
            if not 10 <= i < 20:
                s.append((field, dcgm("node-b", 1), b1))
        for node in ("node-a", "node-b"):
            s.append(("kube_node_info", {"node": node, "provider_id": f"aws:///us-east-1a/i-{node}"}, "1"))
            s.append(("kube_node_status_capacity",
                      {"node": node, "resource": "nvidia_com_gpu", "unit": "integer"}, "2"))
        s.append(("kube_pod_info", {"namespace": "ml", "pod": "train-0", "node": "node-a", "uid": "u1"}, "1"))
        s.append(("kube_pod_container_resource_requests", {"namespace": "ml", "pod": "train-0", "container": "main",
                                                           "resource": "nvidia_com_gpu", "unit": "integer"}, "1"))
        timeline.append((EPOCH + 60 * i, s))
    return replay_openmetrics(timeline)


def make_prometheus(root: Path) -> LocalPrometheus:
    om = root / "faults.om"
    om.write_text(world())
    backfill(om, root / "data")
    return LocalPrometheus(root / "data")


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    with make_prometheus(tmp_path_factory.mktemp("prom-faults")) as p:
        yield p


class Proxy:
    """Forwards GETs to Prometheus; `fail` = [(status, body)] answered first, `mutate`
    rewrites 200 bodies."""

    def __init__(self, upstream: str):
        self.upstream = upstream.split("//", 1)[1]
        self.fail: list[tuple[int, bytes]] = []
        self.mutate = None
        self.on_request = None
        self.requests = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                proxy.requests += 1
                if proxy.on_request:
                    proxy.on_request(proxy.requests)
                if proxy.fail:
                    status, body = proxy.fail.pop(0)
                else:
                    conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                    conn.request("GET", self.path, headers={"Accept-Encoding": "identity"})
                    r = conn.getresponse()
                    status, body = r.status, r.read()
                    conn.close()
                    if proxy.mutate and status == 200 and "query_range" in self.path:
                        body = proxy.mutate(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(prom):
    p = Proxy(prom.url)
    yield p
    p.close()


def warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("set TimeZone = 'UTC'")
    migrate(con, path)
    return con


def snapshot(con) -> dict:
    return {t: con.execute(f"select * from {t} order by all").fetchall()
            for t in ("loads", "raw_dcgm_samples", "raw_gpu_devices", "raw_nodes", "raw_pod_allocations")}


def collect(con, url: str, retries: int = 0, **kw):
    opts = CollectOptions(**{"start": T0, "end": T0 + timedelta(hours=2), "step_s": 60, "cluster": "f", **kw})
    with PromClient(Connection(url, retries=retries, backoff_s=0.01)) as client:
        return collect_prometheus(con, client, opts)


def cli(db: Path, url: str, *extra: str) -> list[str]:
    return ["--db", str(db), "collect", "prometheus", "--url", url, "--start", "2026-03-02", "--end",
            "2026-03-02T02:00", "--step", "1m", "--cluster", "f", "--no-progress", *extra]


def test_5xx_and_429_are_retried_then_succeed(proxy, tmp_path):
    proxy.fail = [(503, b'{"status":"error","errorType":"unavailable","error":"busy"}'), (502, b"bad gateway"),
                  (429, b"slow down")]
    con = warehouse(tmp_path / "w.duckdb")
    summary = collect(con, proxy.url, retries=3, parallel=1)
    assert summary.retries == 3 and not proxy.fail
    assert summary.rows["raw_dcgm_samples"] > 0


def test_persistent_5xx_fails_with_one_line_and_changes_nothing(proxy, tmp_path, capsys):
    db = tmp_path / "w.duckdb"
    con = warehouse(db)
    collect(con, proxy.url)                      # something to keep
    before = snapshot(con)
    con.close()
    proxy.fail = [(500, b'{"status":"error","errorType":"internal","error":"boom"}')] * 100
    assert main(cli(db, proxy.url, "--retries", "2")) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "HTTP 500" in err and "internal: boom" in err and "after 3 attempts" in err
    assert "nothing was written" in err
    assert snapshot(duckdb.connect(str(db), read_only=True)) == before


@pytest.mark.parametrize("body, message", [
    (lambda b: b[: len(b) // 2], "response is not valid JSON"),
    (lambda b: b"<html><body>502 Bad Gateway</body></html>", "starts with '<html>"),
    (lambda b: b'{"status":"success","data":{"resultType":"vector","result":[]}}', "expected a matrix"),
    (lambda b: b.replace(b'"values":[[', b'"values":[["x",', 1), "malformed series"),
])
def test_malformed_answers_are_refused_clearly(proxy, tmp_path, capsys, body, message):
    db = tmp_path / "w.duckdb"
    warehouse(db).close()
    proxy.mutate = body
    assert main(cli(db, proxy.url, "--retries", "0")) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0
    assert duckdb.connect(str(db), read_only=True).execute("select count(*) from loads").fetchone() == (0,)


def test_duplicated_points_in_an_answer_are_dropped(proxy, tmp_path):
    import orjson

    def duplicate(body: bytes) -> bytes:
        doc = orjson.loads(body)
        for s in doc["data"]["result"]:
            s["values"] = [v for v in s["values"] for _ in (0, 1)]
        return orjson.dumps(doc)
    proxy.mutate = duplicate
    con = warehouse(tmp_path / "w.duckdb")
    summary = collect(con, proxy.url)
    assert con.execute("select count(*), count(distinct (ts, gpu_uuid)) from raw_dcgm_samples").fetchone() == (
        4 * 120 - 10, 4 * 120 - 10)
    assert any("duplicate DCGM samples" in w for w in summary.warnings)


def test_nan_inf_duplicate_series_gaps_and_pods(prom, tmp_path):
    con = warehouse(tmp_path / "w.duckdb")
    summary = collect(con, prom.url)
    q = lambda sql, *p: con.execute(sql, list(p)).fetchall()      # noqa: E731
    # NaN and +Inf: the row exists (-> no_data in the build), the value is null
    assert q("select ts, gpu_util, power_w from raw_dcgm_samples where gpu_uuid = 'GPU-node-b-0' and ts in (?, ?) "
             "order by ts", T0 + timedelta(minutes=5), T0 + timedelta(minutes=6)) == [
        (T0 + timedelta(minutes=5), None, 150.0), (T0 + timedelta(minutes=6), None, 150.0)]
    assert any("NaN/Inf" in w for w in summary.warnings)
    # the second scrape job's copy does not double the device
    assert q("select count(*) from raw_dcgm_samples where gpu_uuid = 'GPU-node-b-0'") == [(120,)]
    # a gap stays a gap
    assert q("select count(*) from raw_dcgm_samples where gpu_uuid = 'GPU-node-b-1' and ts >= ? and ts < ?",
             T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)) == [(0,)]
    # series without pod labels: unallocated rows; the pod is mapped to its device
    assert q("select count(*) from raw_dcgm_samples where pod is not null") == [(120,)]
    assert q("select pod, node, devices, gpu_request from raw_pod_allocations") == [
        ("train-0", "node-a", ["GPU-node-a-0"], 1)]
    assert q("select node, gpu_count from raw_gpu_devices join raw_nodes using (node) group by all order by 1") == [
        ("node-a", 2), ("node-b", 2)]


def test_prometheus_killed_mid_collection(tmp_path, monkeypatch, capsys):
    root = tmp_path / "kill"
    root.mkdir()
    p = make_prometheus(root).start()
    try:
        db = tmp_path / "w.duckdb"
        warehouse(db).close()

        def killer(enabled):
            def on_progress(state):
                if state.done_requests == 3:
                    p.kill()
            return on_progress
        monkeypatch.setattr(cli_module, "progress_bar", killer)
        code = main(cli(db, p.url, "--retries", "1", "--end", "2026-03-03T01:00"))
        err = capsys.readouterr().err.strip()
        assert code == 1 and err.count("\n") == 0
        assert "cannot connect" in err and "connection refused" in err and "nothing was written" in err
        con = duckdb.connect(str(db), read_only=True)
        assert con.execute("select count(*) from loads").fetchone() == (0,)
        assert con.execute("select count(*) from raw_dcgm_samples").fetchone() == (0,)
    finally:
        p.stop()


@pytest.mark.parametrize("commit_rows", [0, 1_000_000])
def test_killed_in_the_second_window_keeps_what_was_committed(tmp_path, commit_rows):
    """commit_rows=0: a transaction per window, the first survives; by default the two small
    windows share one transaction (under a million rows), so nothing is left."""
    root = tmp_path / "kill2"
    root.mkdir()
    p = make_prometheus(root).start()
    proxy = Proxy(p.url)
    try:
        con = warehouse(tmp_path / "w.duckdb")
        opts = CollectOptions(start=T0, end=T0 + timedelta(hours=25), step_s=60, cluster="f", parallel=1,
                              commit_rows=commit_rows)
        # the simulator's 8 DCGM fields (only fields present are queried), KSM per step, KSM per window
        per_window = 8 + 9 + 3
        # buildinfo, metric names, the first window, then 3 requests into the second
        proxy.on_request = lambda n: p.kill() if n == 2 + per_window + 3 else None
        settings = "select current_setting('threads'), current_setting('write_buffer_row_group_count')"
        before = con.execute(settings).fetchall()
        with PromClient(Connection(proxy.url, retries=0)) as client, pytest.raises(GpucostError) as err:
            collect_prometheus(con, client, opts)
        assert con.execute(settings).fetchall() == before        # the collector's DuckDB settings undone
        if commit_rows:
            assert "(nothing was written)" in str(err.value)
            assert con.execute("select count(*) from loads").fetchone() == (0,)
            assert con.execute("select count(*) from raw_dcgm_samples").fetchone() == (0,)
        else:
            assert "1 of 2 windows committed up to 2026-03-03 00:00; re-running resumes there" in str(err.value)
            assert con.execute("select distinct window_start, window_end from loads").fetchall() == [
                (T0, T0 + timedelta(days=1))]
            assert con.execute("select max(ts) from raw_dcgm_samples").fetchone() == \
                (T0 + timedelta(hours=23, minutes=59),)
    finally:
        proxy.close()
        p.stop()
