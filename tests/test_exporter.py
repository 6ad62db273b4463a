"""The live exporter: the simulator's current step as dcgm-exporter + kube-state-metrics text,
scraped by a real Prometheus every second and collected by `gpucost collect prometheus`.

World: 16 GPUs, seed 5, 5 s simulation steps (values change every 5 s), simulation start =
the current UTC hour. Expected: the text has every device of the fleet's live nodes with the
simulator's own values for the current step; a collection over the last seconds finds one
row per device per second; a second collection (from the watermark) finds newer rows.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pytest

from gpucost.ingest.exporter import SimExporter, make_server
from gpucost.ingest.prometheus import CollectOptions, Connection, PromClient, collect_prometheus
from gpucost.ingest.prometheus.local import LocalPrometheus, binaries, parse_exposition
from gpucost.warehouse import migrate


def test_text_is_the_simulators_current_step():
    clock = [datetime(2026, 11, 2, 10, 17, 42, tzinfo=timezone.utc).timestamp()]
    ex = SimExporter(gpus=16, seed=5, step_seconds=60, clock=lambda: clock[0])
    assert ex.cfg.start == datetime(2026, 11, 2, 10) and ex.step() == 17
    samples = parse_exposition(ex.render())
    names = {n for n, _, _ in samples}
    assert {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_POWER_USAGE", "kube_node_info", "kube_pod_info",
            "kube_pod_container_resource_requests", "kube_node_labels"} <= names
    block = next(ex.world.telemetry().blocks())            # the simulator's own values for step 17
    power = {lab["UUID"] + "/" + lab.get("GPU_I_ID", ""): float(v) for n, lab, v in samples
             if n == "DCGM_FI_DEV_POWER_USAGE"}
    dev = ex.world.fleet.devices
    for d in np.nonzero(block.present[17] & ~np.isnan(block.values["power_w"][17]))[0]:
        key = dev.uuid[d] + "/" + (str(dev.mig_id[d]) if dev.mig_id[d] >= 0 else "")
        assert power[key] == pytest.approx(block.values["power_w"][17][d], abs=1e-6)
    assert len(power) == int(np.sum(block.present[17] & ~np.isnan(block.values["power_w"][17])))
    clock[0] += 60
    assert ex.step() == 18 and ex.render() != ""
    clock[0] += 86400                                        # past the simulated day: a new one starts
    assert ex.step() == 18 and ex.cfg.start == datetime(2026, 11, 3, 10)


@pytest.mark.skipif(binaries() is None, reason="needs /usr/bin/prometheus (Debian package 'prometheus')")
def test_prometheus_scrapes_the_exporter_and_a_collection_sees_new_samples(tmp_path):
    ex = SimExporter(gpus=16, seed=5, step_seconds=5)
    server = make_server(ex, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"127.0.0.1:{server.server_address[1]}"
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    migrate(con, Path(":memory:"))
    try:
        with LocalPrometheus(tmp_path / "data", scrape=[("gpucost-exporter", target, 1)]) as prom, \
                PromClient(Connection(prom.url, retries=0)) as client:
            def now() -> datetime:
                return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)

            started = now()
            deadline = time.monotonic() + 30
            while not client.query("count(DCGM_FI_DEV_POWER_USAGE)", None, "probe") and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)
            first = collect_prometheus(con, client, CollectOptions(
                start=started - timedelta(seconds=5), end=now() - timedelta(seconds=1), step_s=1, cluster="live"))
            devices = int(np.sum(ex.world.fleet.devices.node >= 0))
            assert first.devices > 0 and first.rows["raw_dcgm_samples"] >= first.devices
            last = con.execute("select max(ts) from raw_dcgm_samples").fetchone()[0]
            time.sleep(3)
            second = collect_prometheus(con, client, CollectOptions(end=now() - timedelta(seconds=1), step_s=1,
                                                                    cluster="live"))
            assert second.window_start == first.window_end                 # resumed at the watermark
            newer = con.execute("select count(*), count(distinct gpu_uuid) from raw_dcgm_samples where ts > ?",
                                [last]).fetchone()
            assert newer[0] >= 2 * first.devices and newer[1] <= devices
            assert con.execute("select count(*) from raw_nodes").fetchone()[0] > 0
            assert con.execute("select count(*) from raw_pod_allocations where devices is not null").fetchone()[0] > 0
    finally:
        server.shutdown()
        server.server_close()
