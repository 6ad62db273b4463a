"""A time-sliced GPU: two pods hold one device at overlapping times (sql/models/gpu_usage_steps).

One day, hourly steps, GPU share 0.5, one g5.xlarge (1 A10G; catalog $1.006/h -> $0.503 per
GPU-hour), GPU_UTIL 50 all day. p1 (job j1) holds the GPU 00-12h, p2 (job j2) 06-18h.

  hours   holders   per pod per hour           state
  00-06   p1        1 GPU-hour,   $0.503       active
  06-12   p1, p2    0.5 GPU-hour, $0.2515 each active
  12-18   p2        1 GPU-hour,   $0.503       active
  18-24   -         1 GPU-hour,   $0.503       unallocated
Per job: 9 GPU-hours, $4.527. Total 24 GPU-hours = $12.072 = the node's GPU cost.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from gpucost.ingest.catalog import catalog
from conftest import built_world, pods_table

DAY = datetime(2026, 11, 2)
PER_GPU_HOUR = catalog()["g5.xlarge"].usd_per_hour * 0.5


def h(hours: int) -> datetime:
    return DAY + timedelta(hours=hours)


@pytest.fixture
def built(settings):
    node = dict(cluster="c", node="n", valid_from=h(0), valid_to=h(24))
    tables = [
        ("raw_nodes", pa.Table.from_pylist([node | dict(instance_type="g5.xlarge", gpu_count=1)])),
        ("raw_gpu_devices", pa.Table.from_pylist([node | dict(device_id="G", gpu_index=0, gpu_uuid="G")])),
        ("raw_dcgm_samples", pa.Table.from_pylist([dict(ts=h(i), cluster="c", node="n", gpu_uuid="G",
                                                        gpu_util=50.0) for i in range(24)])),
        ("raw_pod_allocations", pods_table([
            dict(cluster="c", namespace="ml", pod=p, node="n", valid_from=h(a), valid_to=h(b), gpu_request=1,
                 devices=["G"], owner_kind="Job", owner_name=j)
            for p, j, a, b in (("p1", "j1", 0, 12), ("p2", "j2", 6, 18))])),
    ]
    with built_world(settings, tables, DAY) as con:
        yield con


def test_shared_steps_split_evenly_between_the_pods(built):
    rows = built.execute("""select coalesce(pod, '-'), state::varchar, count(*), sum(gpu_hours), sum(cost_usd)
                            from gpu_usage group by all order by 1""").fetchall()
    assert [r[:3] for r in rows] == [("-", "unallocated", 6), ("p1", "active", 12), ("p2", "active", 12)]
    for pod, _state, _steps, gpu_hours, cost in rows:
        assert gpu_hours == pytest.approx(6.0 if pod == "-" else 9.0)
        assert cost == pytest.approx(gpu_hours * PER_GPU_HOUR, rel=1e-12)
    shared = built.execute("select gpu_hours, cost_usd from gpu_usage where ts = $t order by pod",
                           {"t": h(7)}).fetchall()
    assert shared == [(0.5, pytest.approx(PER_GPU_HOUR / 2)), (0.5, pytest.approx(PER_GPU_HOUR / 2))]


def test_identity_and_job_costs_with_a_shared_gpu(built):
    total = built.execute("select sum(cost_usd), sum(gpu_hours) from gpu_usage").fetchone()
    assert total[0] == pytest.approx(24 * PER_GPU_HOUR, rel=1e-12) and total[1] == pytest.approx(24.0)
    assert built.execute("select sum(gpu_cost_usd) from asset_costs").fetchone()[0] == pytest.approx(total[0])
    jobs = built.execute("select job, gpu_hours, cost_usd from job_costs order by job").fetchall()
    assert [(j, pytest.approx(g), pytest.approx(c)) for j, g, c in jobs] == [
        ("j1", pytest.approx(9.0), pytest.approx(9 * PER_GPU_HOUR)),
        ("j2", pytest.approx(9.0), pytest.approx(9 * PER_GPU_HOUR))]
    hourly = built.execute("select sum(gpu_hours), sum(cost_usd) from usage_hourly").fetchone()
    assert hourly[0] == pytest.approx(24.0) and hourly[1] == pytest.approx(total[0])
    assert built.execute("select sum(free_gpus) from fragmentation").fetchone()[0] == pytest.approx(6.0)

