"""Throttling from DCGM's violation counters, collector to gpu_usage.

Collector: DCGM_FI_DEV_POWER_VIOLATION and DCGM_FI_DEV_THERMAL_VIOLATION (us, counters) are
queried as increase() over the step and land in power_violation_us / thermal_violation_us.
Model (60 s steps, one g5.xlarge GPU, GPU_UTIL 50):
  step   power us   thermal us   throttled_pct
  00:00  30e6       45e6         75   (the larger: 45 s of 60)
  00:01  90e6       -            100  (capped)
  00:02  -          -            null (not reported)
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from gpucost.ingest.loads import Window
from gpucost.ingest.prometheus.dcgm import dcgm_window
from gpucost.ingest.prometheus.matrix import parse_matrix
from gpucost.ingest.prometheus.queries import FIELDS_BY_NAME, dcgm_query
from gpucost.ingest.prometheus.windows import Grid
from conftest import built_world
from test_prometheus_units import BASE, body

DAY = datetime(2026, 11, 2)


def test_violation_counters_are_collected_as_increases():
    field = FIELDS_BY_NAME["DCGM_FI_DEV_POWER_VIOLATION"]
    assert (field.kind, field.column) == ("counter", "power_violation_us")
    assert dcgm_query(field, "", "1m").startswith("increase(DCGM_FI_DEV_POWER_VIOLATION[")
    g = Grid.of(Window(DAY, DAY + timedelta(minutes=2)), 60)
    t = [g.eval_ms(k) / 1000 for k in range(2)]
    labels = {**BASE, "Hostname": "n"}
    matrices = {"DCGM_FI_DEV_GPU_UTIL": parse_matrix(body([(labels, [[t[0], "50"], [t[1], "50"]])]), "u"),
                "DCGM_FI_DEV_POWER_VIOLATION": parse_matrix(body([(labels, [[t[0], "30000000"]])]), "p")}
    rows = dcgm_window(matrices, g, "c").table.to_pylist()
    assert [(r["gpu_util"], r["power_violation_us"]) for r in rows] == [(50.0, 30e6), (50.0, None)]


def test_throttled_share_of_the_step(settings):
    node = dict(cluster="c", node="n", valid_from=DAY, valid_to=DAY + timedelta(days=1))
    samples = [dict(ts=DAY + timedelta(minutes=m), cluster="c", node="n", gpu_uuid="G", gpu_util=50.0,
                    power_violation_us=p, thermal_violation_us=th)
               for m, p, th in ((0, 30e6, 45e6), (1, 90e6, None), (2, None, None))]
    tables = [("raw_nodes", pa.Table.from_pylist([node | dict(instance_type="g5.xlarge", gpu_count=1)])),
              ("raw_gpu_devices", pa.Table.from_pylist([node | dict(device_id="G", gpu_index=0, gpu_uuid="G")])),
              ("raw_dcgm_samples", pa.Table.from_pylist(samples))]
    with built_world(settings, tables, DAY, step_seconds=60, gpu_share=None) as con:
        got = con.execute("select throttled_pct from gpu_usage where ts < $t order by ts",
                          {"t": DAY + timedelta(minutes=3)}).fetchall()
    assert got == [(pytest.approx(75.0),), (100.0,), (None,)]
