"""The fragmentation mart (sql/models/fragmentation.sql) on a hand-built world.

One day, hourly steps, GPU share fixed at 0.5, every pod holds its GPUs all day, so each
node's row is the same at every step. Request mixes per GPU model (pods of the 7 days):

  A10G   A: 1 GPU, 8 cores, 32 GiB  x3 (p1, p2, p4)   popularity 3/4
         B: 2 GPUs, 40 cores, 64 GiB x1 (p3)          popularity 1/4
  A100   4 GPUs, 48 cores x1 (q1); 7 GPUs, 84 cores x1 (q2); MIG 1g.5gb = 1000/7 milli,
         4 cores x1 (m1)                               popularity 1/3 each
  H100   7 GPUs, 160 cores x1 (h1)                     popularity 1

node  type          held                          free         cpu free  F_n(M) by hand
n1    p4d (8 A100)  q1: GPUs 0-3                   4 whole       96-48=48  q2 misses: 4000/3
n2    g5.12xl (4)   p1, p2: GPUs 0, 1              2 whole       48-16=32  B misses (cpu): 2000/4
n3    g5.12xl (4)   p3: GPUs 0, 1; p4: GPU 2       1 whole       48-48=0   A, B miss: 1000
n4    p4d (8 A100)  q2: GPUs 1-7; m1: GPU 0 slice  GPU 0: 6/7    96-88=8   q1, q2 miss: 2/3 x 6000/7
n6    p5 (8 H100)   h1: GPUs 0-6                   1 whole       192-160   h1 misses: 1000

Stranded (no common shape fits, memory included): n3 (A fits by GPUs, not by CPU) -> 1 GPU,
'cpu'; n6 (needs 7 GPUs, 1 free) -> 1 GPU, 'gpus'. NVLink: p4d and p5 have NVSwitch (one
domain per node), g5 has none (null).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from gpucost.build import build
from gpucost.ingest.catalog import catalog
from gpucost.ingest.loads import Window
from gpucost.settings import CostSplit
from conftest import built_world, pods_table

DAY = datetime(2026, 11, 2)
GIB = 2 ** 30

#        node: (free_gpus, free_whole, frag_gpu_milli, largest, nvlink, cpu_free, stranded, reason)
EXPECTED = {
    "n1": (4.0, 4, 4000 / 3, 4, 4, 48.0, 0.0, None),
    "n2": (2.0, 2, 500.0, 2, None, 32.0, 0.0, None),
    "n3": (1.0, 1, 1000.0, 1, None, 0.0, 1.0, "cpu"),
    "n4": (6 / 7, 0, 2 / 3 * 6000 / 7, 0, 0, 8.0, 0.0, None),
    "n6": (1.0, 1, 1000.0, 1, 1, 32.0, 1.0, "gpus"),
}
TYPES = {"n1": "p4d.24xlarge", "n2": "g5.12xlarge", "n3": "g5.12xlarge", "n4": "p4d.24xlarge",
         "n6": "p5.48xlarge"}
MIG = [(1, "3g.20gb"), (2, "2g.10gb"), (3, "1g.5gb"), (4, "1g.5gb")]


def pod(name: str, node: str, devices: list[str], cpu: float, mem_gib: float | None = None,
        gpus: int | None = None, mig: str | None = None) -> dict:
    return dict(cluster="c", namespace="ml", pod=name, node=node, valid_from=DAY, valid_to=DAY + timedelta(days=1),
                gpu_request=gpus if gpus is not None else (None if mig else len(devices)), mig_profile=mig,
                devices=devices, owner_kind="Job", owner_name=name, labels=[], cpu_request_cores=cpu,
                memory_request_bytes=int(mem_gib * GIB) if mem_gib else None)


def world() -> list[tuple[str, pa.Table]]:
    end = DAY + timedelta(days=1)
    nodes, devices, samples = [], [], []
    for node, itype in TYPES.items():
        count = catalog()[itype].device_count
        nodes.append(dict(cluster="c", node=node, valid_from=DAY, valid_to=end, instance_type=itype,
                          capacity_type="on_demand", gpu_count=count))
        for i in range(count):
            slices = MIG if (node, i) == ("n4", 0) else [(None, None)]
            for mig, profile in slices:
                dev = f"{node}-{i}" + (f"/{mig}" if mig else "")
                devices.append(dict(cluster="c", node=node, valid_from=DAY, valid_to=end, device_id=dev,
                                    gpu_index=i, gpu_uuid=f"{node}-{i}", mig_instance_id=mig, mig_profile=profile))
                samples += [dict(ts=DAY + timedelta(hours=t), cluster="c", node=node, gpu_uuid=f"{node}-{i}",
                                 mig_instance_id=mig, gr_engine_active=0.5) for t in range(24)]
    pods = [
        pod("q1", "n1", [f"n1-{i}" for i in range(4)], 48),
        pod("p1", "n2", ["n2-0"], 8, 32), pod("p2", "n2", ["n2-1"], 8, 32),
        pod("p3", "n3", ["n3-0", "n3-1"], 40, 64), pod("p4", "n3", ["n3-2"], 8, 32),
        pod("q2", "n4", [f"n4-{i}" for i in range(1, 8)], 84),
        pod("m1", "n4", ["n4-0/3"], 4, mig="1g.5gb"),
        pod("h1", "n6", [f"n6-{i}" for i in range(7)], 160),
    ]
    return [("raw_nodes", pa.Table.from_pylist(nodes)), ("raw_gpu_devices", pa.Table.from_pylist(devices)),
            ("raw_dcgm_samples", pa.Table.from_pylist(samples)), ("raw_pod_allocations", pods_table(pods))]


@pytest.fixture
def world_settings(settings):
    return replace(settings, step_seconds=3600, cost=CostSplit(gpu_share=0.5))


@pytest.fixture
def built(settings):
    with built_world(settings, world(), DAY) as con:
        yield con


def test_fragmentation_matches_hand_computed_values(built):
    rows = built.execute(
        "select node, count(*), count(distinct (free_gpus, frag_gpu_milli, stranded_gpus)), any_value(free_gpus), "
        "any_value(free_whole_gpus), any_value(frag_gpu_milli), any_value(largest_free_block), "
        "any_value(nvlink_free_block), any_value(cpu_free_cores), any_value(stranded_gpus), "
        "any_value(stranded_reason) from fragmentation group by node order by node").fetchall()
    got = {r[0]: r[3:] for r in rows}
    assert set(got) == set(EXPECTED)
    assert all(r[1] == 24 and r[2] == 1 for r in rows), rows        # one row per node per step, constant
    for node, want in EXPECTED.items():
        g = got[node]
        assert g[0] == pytest.approx(want[0]) and g[1] == want[1], node
        assert g[2] == pytest.approx(want[2], abs=1e-5), (node, g[2], want[2])
        assert g[3:5] == want[3:5] and g[5] == pytest.approx(want[5]), node
        assert g[6] == pytest.approx(want[6]) and g[7] == want[7], node


def test_free_and_stranded_cost_are_shares_of_the_gpu_cost(built):
    # free capacity costs what gpu_usage charges to the steps nobody holds; stranded is the
    # n3 and n6 part of it: one GPU-hour each per hour at the node's GPU price per GPU
    free, stranded = built.execute("select sum(free_cost_usd), sum(stranded_cost_usd) from fragmentation").fetchone()
    unheld = built.execute("select sum(cost_usd) from gpu_usage where pod is null").fetchone()[0]
    assert free == pytest.approx(unheld, rel=1e-9)           # free milli-GPUs are rounded to 1e-6
    per_gpu_hour = {t: catalog()[t].usd_per_hour * 0.5 / catalog()[t].device_count for t in set(TYPES.values())}
    assert stranded == pytest.approx(24 * (per_gpu_hour["g5.12xlarge"] + per_gpu_hour["p5.48xlarge"]), rel=1e-12)


def test_rebuilding_the_window_gives_an_identical_table(built, world_settings):
    before = built.execute("select * from fragmentation order by node, ts").fetchall()
    build(built, world_settings, Window(DAY, DAY + timedelta(days=1)))
    assert built.execute("select * from fragmentation order by node, ts").fetchall() == before


def test_dashboard_data_sums_the_fleet_per_step(built):
    from gpucost.dashboard.data import fragmentation as data
    from gpucost.dashboard.filters import parse_query

    view = data.load(built, parse_query(""))
    free = sum(v[0] for v in EXPECTED.values())
    assert view.totals["steps"] == 24 and view.totals["free_gpus"] == pytest.approx(free)
    assert view.totals["stranded_gpus"] == pytest.approx(2.0)
    assert view.totals["frag_gpus"] == pytest.approx(sum(v[2] for v in EXPECTED.values()) / 1000, abs=1e-8)
    assert list(view.nodes["node"])[:2] == ["n6", "n3"]          # the p5 GPU is the dearer stranded one
    assert list(view.nodes.loc[view.nodes["node"] == "n3", "stranded_reason"]) == ["cpu"]
    only_g5 = data.load(built, parse_query("model=NVIDIA%20A10G"))
    assert set(only_g5.nodes["node"]) == {"n2", "n3"} and only_g5.totals["free_gpus"] == pytest.approx(3.0)


def test_metrics_expose_stranded_and_free_gpus(built, world_settings):
    from gpucost.dashboard.app import create_app
    from gpucost.warehouse import publish_snapshot

    publish_snapshot(built, world_settings)
    text = create_app(world_settings).server.test_client().get("/metrics").get_data(as_text=True)
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert float(samples['gpucost_stranded_gpus{cluster="c"}']) == pytest.approx(2.0)
    assert float(samples['gpucost_free_gpus{cluster="c"}']) == pytest.approx(sum(v[0] for v in EXPECTED.values()))
    per_gpu_hour = {t: catalog()[t].usd_per_hour * 0.5 / catalog()[t].device_count for t in set(TYPES.values())}
    assert float(samples['gpucost_stranded_cost_usd_per_hour{cluster="c"}']) == pytest.approx(
        per_gpu_hour["g5.12xlarge"] + per_gpu_hour["p5.48xlarge"])
