"""Placement what-if on an observed pool (analytics/placement/observed.py) and the repack
recommendation rule built on it, on hand-built pools.

Pool world (one day, hourly steps, GPU share 0.5): three g5.12xlarge on-demand nodes a, b, c
(4 A10G, 48 vCPU each; catalog $5.672/h -> GPU cost $2.836/h per node, $0.709 per GPU-hour)
holding four 1-GPU pods of 8 cores all day: a 1, b 2, c 1. Repacked, the four fit on a (the
first of equally priced nodes), b and c empty. Snapshots every 6 h -> 4 snapshots of 6 h.

  headroom_pct  kept empty  drained  saving in window          GPU-hours  record's cap
  10 (1 GPU)    b           c        4 x 6 h x 2.836 = 68.064   96         pool unallocated 136.128
  0             -           b, c     2 x 68.064 = 136.128       192        = the cap exactly
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
import yaml

from gpucost.analytics.placement.model import NodeInventory, Workload
from gpucost.analytics.placement.observed import PoolSnapshot, repack
from gpucost.analytics.recommend import runner
from gpucost.analytics.recommend.model import Window as RecWindow
from gpucost.analytics.recommend.rules import repack as rule
from conftest import built_world, pods_table

DAY = datetime(2026, 11, 2)
GPU_COST_PER_NODE_HOUR = 5.672 * 0.5


def snapshot(pods_per_node: list[int], cpu_cores: float = 8, prices=(1.0, 1.0, 1.0), spot=(False,) * 3):
    n = len(pods_per_node)
    nodes = NodeInventory(name=[f"n{i}" for i in range(n)], cpu_milli=[48000] * n, memory_mib=[196608] * n,
                          gpu_count=[4] * n, gpu_model=["A10G"] * n)
    where = [i for i, k in enumerate(pods_per_node) for _ in range(k)]
    pods = Workload(name=[f"p{j}" for j in range(len(where))], cpu_milli=[int(cpu_cores * 1000)] * len(where),
                    memory_mib=[1024] * len(where), num_gpu=[1] * len(where), gpu_milli=[1000] * len(where))
    return PoolSnapshot(nodes, np.array(prices[:n], float), np.array(spot[:n]), pods, np.array(where))


@pytest.mark.parametrize("pods_per_node, cpu, headroom, drained, already_empty", [
    ([1, 2, 1], 8, 0, ("n1", "n2"), ()),          # 4 small pods fit on n0
    ([1, 2, 1], 8, 1, ("n2",), ()),               # keep one empty node (4 GPUs) for 1 GPU of headroom
    ([1, 2, 1], 20, 0, ("n2",), ()),              # 20 cores each: two pods per 48-core node
    ([1, 1, 0], 8, 0, ("n1", "n2"), ("n2",)),      # n2 was empty already
    ([4, 4, 4], 8, 0, (), ()),                    # nothing to gain on a full pool
])
def test_repack_drains_the_nodes_bin_packing_empties(pods_per_node, cpu, headroom, drained, already_empty):
    result = repack(snapshot(pods_per_node, cpu), headroom_gpus=headroom)
    assert result.placed_all and result.drained == drained and result.already_empty == already_empty
    assert result.drained_gpus == 4 * len(drained) and result.saving_per_hour == pytest.approx(len(drained))


def test_repack_keeps_the_cheap_nodes_and_drains_the_dear_ones():
    # n0 dearest, n2 cheapest spot: the pods go to the cheap nodes, n0 empties
    result = repack(snapshot([2, 1, 1], prices=(3.0, 1.0, 1.0), spot=(False, False, True)))
    assert result.drained == ("n0", "n1") and result.saving_per_hour == pytest.approx(4.0)


def test_a_pod_that_fits_nowhere_drains_nothing():
    snap = snapshot([1, 0, 0])
    big = Workload(name=["huge"], cpu_milli=[1000], memory_mib=[1], num_gpu=[8], gpu_milli=[1000])
    result = repack(replace(snap, pods=big, pod_node=np.array([0])))
    assert not result.placed_all and result.drained == () and result.saving_per_hour == 0


def pool_world() -> list[tuple[str, pa.Table]]:
    end = DAY + timedelta(days=1)
    nodes, devices, samples, pods = [], [], [], []
    held = {"a": [0], "b": [0, 1], "c": [0]}
    for node, gpus in held.items():
        nodes.append(dict(cluster="c", node=node, valid_from=DAY, valid_to=end, instance_type="g5.12xlarge",
                          capacity_type="on_demand", gpu_count=4, labels=[("karpenter.sh/nodepool", "gpu-a10g")]))
        for i in range(4):
            devices.append(dict(cluster="c", node=node, valid_from=DAY, valid_to=end, device_id=f"{node}{i}",
                                gpu_index=i, gpu_uuid=f"{node}{i}", gpu_model="NVIDIA A10G"))
            samples += [dict(ts=DAY + timedelta(hours=h), cluster="c", node=node, gpu_uuid=f"{node}{i}",
                             gr_engine_active=0.5) for h in range(24)]
        for i in gpus:
            pods.append(dict(cluster="c", namespace="ml", pod=f"{node}-pod{i}", node=node, valid_from=DAY,
                             valid_to=end, gpu_request=1, devices=[f"{node}{i}"], owner_kind="Deployment",
                             owner_name="web", cpu_request_cores=8.0, memory_request_bytes=2 ** 34))
    return [("raw_nodes", pa.Table.from_pylist(nodes, schema=pa.schema([
                ("cluster", pa.string()), ("node", pa.string()), ("valid_from", pa.timestamp("us")),
                ("valid_to", pa.timestamp("us")), ("instance_type", pa.string()), ("capacity_type", pa.string()),
                ("gpu_count", pa.int32()), ("labels", pa.map_(pa.string(), pa.string()))]))),
            ("raw_gpu_devices", pa.Table.from_pylist(devices)), ("raw_dcgm_samples", pa.Table.from_pylist(samples)),
            ("raw_pod_allocations", pods_table(pods))]


@pytest.fixture
def pool(settings):
    with built_world(settings, pool_world(), DAY) as con:
        yield con


@pytest.mark.parametrize("headroom_pct, saving, gpu_hours, drained", [
    (10.0, 4 * 6 * GPU_COST_PER_NODE_HOUR, 96.0, ["c"]),
    (0.0, 2 * 4 * 6 * GPU_COST_PER_NODE_HOUR, 192.0, ["b", "c"]),
])
def test_repack_rule_on_a_built_pool(pool, headroom_pct, saving, gpu_hours, drained):
    window = RecWindow(DAY, DAY + timedelta(days=1))
    params = {"repack": rule.Params(headroom_pct=headroom_pct)}
    recs = runner.recommend(pool, window, params=params, only=["repack"])
    assert [(r.kind, r.cluster, r.target) for r in recs] == [("repack", "c", "pool/NVIDIA A10G")]
    rec = recs[0]
    assert rec.gpu_hours_saved == pytest.approx(gpu_hours)
    assert rec.monthly_savings_usd == pytest.approx(saving * 720 / 24)
    evidence = rec.evidence
    assert evidence["snapshots"] == 4 and evidence["pool_unallocated_cost_usd"] == pytest.approx(8 * 24 * 0.709)
    assert [d["node"] for d in evidence["nodes_drained_most"]] == drained
    assert evidence["scheduler_scoring"]["scoringStrategy"]["type"] == "MostAllocated"
    (doc,) = yaml.safe_load_all(rec.patch)
    assert doc["kind"] == "NodePool" and doc["metadata"]["name"] == "gpu-a10g"
    assert doc["spec"]["disruption"]["consolidationPolicy"] == "WhenEmptyOrUnderutilized"
    assert doc["metadata"]["annotations"]["gpucost.io/recommendation-id"] == rec.id
    json.loads(json.dumps(evidence))


def test_repack_needs_enough_drained_node_hours(pool):
    window = RecWindow(DAY, DAY + timedelta(days=1))
    params = {"repack": rule.Params(min_drained_node_hours=25)}     # c alone: 24 node-hours
    assert runner.recommend(pool, window, params=params, only=["repack"]) == []
