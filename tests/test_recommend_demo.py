"""Recommendations end to end on a simulated fleet (128 GPUs, 3 days, seed 1: big enough for a
2 x 4-GPU training job split over two NVLink domains) via the CLI.

Invariants: every rule finds something with a positive saving; no GPU-hour's cost is saved
twice (per job, savings in the window <= the job's cost; in total <= the fleet's GPU cost;
commit <= its discount x the on-demand cost); the YAML export is valid Kubernetes; re-running
writes an identical table.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict

import pytest
import yaml

from gpucost.analytics.recommend.patches import ANNOTATION
from gpucost.analytics.recommend.runner import kinds
from gpucost.cli import main
from gpucost.ingest.simulate import SimConfig
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse, snapshot_path
from conftest import simulated

CONFIG = SimConfig(gpus=128, days=3, seed=1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Settings:
    return simulated(tmp_path_factory.mktemp("recdemo") / "demo.duckdb", CONFIG)


@pytest.fixture(scope="module")
def exported(demo, tmp_path_factory):
    """The JSON export of a `gpucost recommend` run, and the table it wrote."""
    out = tmp_path_factory.mktemp("recout") / "recs.json"
    assert main(["--db", str(demo.db), "recommend", "--format", "json", "--out", str(out)]) == 0
    with open_warehouse(demo, read_only=True) as con:
        table = con.execute("select * from recommendations order by id").fetchall()
    return json.loads(out.read_text()), table


def test_every_kind_appears_with_a_positive_saving(exported):
    recs, _ = exported
    by_kind = defaultdict(list)
    for r in recs:
        by_kind[r["kind"]].append(r["monthly_savings_usd"])
    every = {"idle-reclaim", "right-size-count", "share", "smaller-gpu", "spot", "topology", "repack", "commit"}
    assert set(kinds()) == every and set(by_kind) == every
    for kind, savings in by_kind.items():
        assert min(savings) > 0, kind
    print({k: (len(v), round(sum(v), 2)) for k, v in by_kind.items()}, round(sum(r["monthly_savings_usd"] for r in recs), 2))


def test_savings_never_exceed_the_cost_they_address(demo, exported):
    recs, _ = exported
    with open_warehouse(demo, read_only=True) as con:
        jobs = {(c, n, j): cost for c, n, j, cost in con.execute(
            "select cluster, namespace, job, cost_usd from job_costs").fetchall()}
        total = con.execute("select sum(cost_usd) from usage_hourly").fetchone()[0]
        on_demand = dict(con.execute("""select split_part(instance_type, '.', 1), sum(cost_usd) from usage_hourly
                                        where capacity_type = 'on_demand' group by 1""").fetchall())
    window_savings = [r["evidence"]["saving_in_window_usd"] for r in recs]
    assert sum(window_savings) <= total
    # the window is the whole simulation (3 days < 14), so job_costs is the jobs' cost in the window
    assert {r["evidence"]["window_hours"] for r in recs} == {72.0}
    per_job = defaultdict(float)
    for r in recs:
        if "job" in r["evidence"]:  # job-level kinds (commit and repack address nodes)
            per_job[(r["cluster"], r["namespace"], r["evidence"]["job"])] += r["evidence"]["saving_in_window_usd"]
    for job, saving in per_job.items():
        assert saving <= jobs[job] + 1e-5, job  # evidence keeps 6 decimals
    for r in recs:
        monthly = r["evidence"]["saving_in_window_usd"] * 720 / 72
        assert r["monthly_savings_usd"] == pytest.approx(monthly, abs=1e-4)
        if r["kind"] == "commit":
            e = r["evidence"]
            assert e["saving_in_window_usd"] <= e["discount_pct"] / 100 * on_demand[e["instance_family"]] + 1e-5


def test_yaml_export_is_valid_kubernetes(demo, tmp_path):
    out = tmp_path / "patches.yaml"
    assert main(["--db", str(demo.db), "recommend", "--format", "yaml", "--out", str(out)]) == 0
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d is not None]
    assert docs
    kinds_seen = set()
    for doc in docs:
        assert doc["apiVersion"] and doc["kind"], doc
        if doc["kind"] == "KubeSchedulerConfiguration":  # a config file (repack), not an API object
            continue
        assert doc["metadata"]["name"], doc
        assert doc["metadata"]["annotations"][ANNOTATION]
        assert isinstance(doc["spec"], dict) and doc["spec"]
        kinds_seen.add(doc["kind"])
        if doc["kind"] == "ResourceClaimTemplate":
            assert doc["apiVersion"] == "resource.k8s.io/v1"
            requests = doc["spec"]["spec"]["devices"]["requests"]
            for req in requests:
                assert req["name"] and req["exactly"]["deviceClassName"] in ("gpu.nvidia.com", "mig.nvidia.com")
                assert req["exactly"]["count"] >= 1
                assert all(s["cel"]["expression"] for s in req["exactly"].get("selectors", []))
        elif doc["kind"] in ("Deployment", "StatefulSet", "Job", "Notebook"):
            pod = doc["spec"]["template"]["spec"]
            assert pod.get("containers") or pod.get("nodeSelector") or pod.get("affinity")
            for c in pod.get("containers", []):
                assert c["name"] and c["resources"]["limits"]
    assert {"ResourceClaimTemplate", "Deployment", "Job"} <= kinds_seen
    text = out.read_text()
    assert "karpenter.sh/capacity-type" in text and "kind: NodePool" in text
    with open_warehouse(demo, read_only=True) as con:
        mig = con.execute("select count(*) from recommendations where kind = 'share' "
                          "and json_extract_string(evidence, '$.method') = 'mig'").fetchone()[0]
    assert ("nvidia.com/mig-" in text) == (mig > 0)          # MIG patches exactly when MIG is proposed
    assert "eks.amazonaws.com/capacityType" in text and "node.kubernetes.io/instance-type" in text


def test_rerun_writes_an_identical_table(demo, exported):
    _, first = exported
    assert main(["--db", str(demo.db), "recommend", "--format", "md", "--out", str(demo.db.parent / "r.md")]) == 0
    with open_warehouse(demo, read_only=True) as con:
        second = con.execute("select * from recommendations order by id").fetchall()
    assert first == second
    assert snapshot_path(demo).exists()  # published for the dashboard


def test_filters_and_markdown(demo, tmp_path, capsys):
    assert main(["--db", str(demo.db), "recommend", "--format", "csv", "--kind", "spot", "--min-savings", "50"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and {r["kind"] for r in rows} == {"spot"}
    assert min(float(r["monthly_savings_usd"]) for r in rows) >= 50
    assert main(["--db", str(demo.db), "recommend", "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert "## idle-reclaim" in md and "## commit" in md and "**Total: $" in md


def test_demo_command_computes_recommendations(tmp_path, capsys):
    db = tmp_path / "cli.duckdb"
    assert main(["demo", "--db", str(db), "--gpus", "16", "--days", "1", "--no-serve"]) == 0
    assert "recommend:" in capsys.readouterr().out
    with open_warehouse(Settings(db=db), read_only=True, prefer_snapshot=True) as con:
        assert con.execute("select count(*) from recommendations").fetchone()[0] > 0
