"""The topology recommendation rule on a hand-built world.

One day, hourly steps, GPU share 0.5. p4d.24xlarge nodes have one NVSwitch (one NVLink domain
of 8 GPUs per node, from the catalog); g5.12xlarge nodes have no NVLink.

  job (owner)             pods x GPUs   placement                 flagged?
  ml/PyTorchJob/ddp       2 x 4         n1 GPUs 0-3, n2 GPUs 0-3  yes: 2 domains, one p4d holds 8
  ml/PyTorchJob/packed    2 x 4         both on n3                no: one domain
  ml/PyTorchJob/nolink    2 x 1         g1 and g2 (g5.12xlarge)   no: no NVLink domain known

ddp's cost: 8 GPUs x 24 h x (p4d price x 0.5 / 8); saving at 10 % slowdown = 0.1 / 1.1 of it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest
import yaml

from gpucost.analytics.recommend import runner
from gpucost.analytics.recommend.model import Window as RecWindow
from gpucost.analytics.recommend.rules import topology
from gpucost.ingest.catalog import catalog
from conftest import built_world, pods_table

DAY = datetime(2026, 11, 2)
NODES = {"n1": "p4d.24xlarge", "n2": "p4d.24xlarge", "n3": "p4d.24xlarge", "g1": "g5.12xlarge", "g2": "g5.12xlarge"}
PODS = [("ddp", "ddp-w0", "n1", [0, 1, 2, 3]), ("ddp", "ddp-w1", "n2", [0, 1, 2, 3]),
        ("packed", "packed-w0", "n3", [0, 1, 2, 3]), ("packed", "packed-w1", "n3", [4, 5, 6, 7]),
        ("nolink", "nolink-w0", "g1", [0]), ("nolink", "nolink-w1", "g2", [0])]


def world() -> list[tuple[str, pa.Table]]:
    end = DAY + timedelta(days=1)
    nodes, devices, samples, pods = [], [], [], []
    for node, itype in NODES.items():
        count = catalog()[itype].device_count
        nodes.append(dict(cluster="c", node=node, valid_from=DAY, valid_to=end, instance_type=itype,
                          capacity_type="on_demand", gpu_count=count))
        for i in range(count):
            devices.append(dict(cluster="c", node=node, valid_from=DAY, valid_to=end, device_id=f"{node}-{i}",
                                gpu_index=i, gpu_uuid=f"{node}-{i}"))
            samples += [dict(ts=DAY + timedelta(hours=h), cluster="c", node=node, gpu_uuid=f"{node}-{i}",
                             gr_engine_active=0.6) for h in range(24)]
    for job, pod, node, gpus in PODS:
        pods.append(dict(cluster="c", namespace="ml", pod=pod, node=node, valid_from=DAY, valid_to=end,
                         gpu_request=len(gpus), devices=[f"{node}-{i}" for i in gpus], owner_kind="PyTorchJob",
                         owner_name=job, labels=[("training.kubeflow.org/job-name", job)]))
    return [("raw_nodes", pa.Table.from_pylist(nodes)), ("raw_gpu_devices", pa.Table.from_pylist(devices)),
            ("raw_dcgm_samples", pa.Table.from_pylist(samples)),
            ("raw_pod_allocations", pods_table(pods))]


@pytest.fixture
def built(settings):
    with built_world(settings, world(), DAY) as con:
        yield con


WINDOW = RecWindow(DAY, DAY + timedelta(days=1))


def test_only_the_job_split_across_nvlink_domains_is_flagged(built):
    (rec,) = runner.recommend(built, WINDOW, only=["topology"])
    job_cost = 8 * 24 * catalog()["p4d.24xlarge"].usd_per_hour * 0.5 / 8
    assert (rec.kind, rec.target, rec.confidence) == ("topology", "ml/PyTorchJob/ddp", "low")
    assert rec.evidence["spread_hours"] == 24 and rec.evidence["gpus"] == 8
    assert rec.evidence["nvlink_domains"] == 2 and rec.evidence["largest_domain_gpus"] == 8
    assert rec.evidence["spread_cost_usd"] == pytest.approx(job_cost)
    assert rec.monthly_savings_usd == pytest.approx(job_cost * 0.1 / 1.1 * 720 / 24)
    assert rec.gpu_hours_saved == pytest.approx(8 * 24 * 0.1 / 1.1)
    (doc,) = yaml.safe_load_all(rec.patch)
    term = doc["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["labelSelector"]["matchLabels"] == {"training.kubeflow.org/job-name": "ddp"}
    assert term["topologyKey"] == "kubernetes.io/hostname"


@pytest.mark.parametrize("params, records", [
    (topology.Params(min_spread_hours=25), 0),                      # ddp is spread 24 h
    (topology.Params(cross_domain_slowdown_pct=0), 0),              # no slowdown, no saving
])
def test_parameters_change_the_outcome(built, params, records):
    assert len(runner.recommend(built, WINDOW, params={"topology": params}, only=["topology"])) == records
