"""The FGD paper's result on the real Alibaba trace (needs ../shared/data; skipped when absent).

Published (Weng et al., USENIX ATC'23, artifact hkust-adsl/kubernetes-scheduler-simulator,
experiments/analysis/expected_results): on openb_pod_list_default with the 1,213 GPU nodes
(6,212 GPUs), workload inflated to 130 %, GPU allocation at 100 % arrived workload, mean of
seeds 42-51: BestFit 92.9 %, FGD 95.2 %. Across the artifact's ten seeds single runs spread
about +-0.3 pp around those means (the random streams here are not Go's, so seed 42 here is
not seed 42 there): one seed must land within TOLERANCE_PP of the mean, and FGD above BestFit.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gpucost.analytics.placement import simulate
from gpucost.ingest.alibaba import read_nodes, read_pods

PAPER_ALLOC_AT_100 = {"best-fit": 92.9, "fgd": 95.2}
TOLERANCE_PP = 1.0

pytestmark = pytest.mark.shared_data


def trace_dir() -> Path:
    base = os.environ.get("GPUCOST_SHARED_DATA")
    data = Path(base) if base else Path(__file__).resolve().parents[2] / "shared" / "data"
    path = data / "alibaba-gpu-2023"
    if not (path / "openb_pod_list_default.csv").is_file():
        pytest.skip(f"Alibaba GPU trace not found at {path} (set GPUCOST_SHARED_DATA)")
    return path


def test_reproduces_paper():
    path = trace_dir()
    nodes = read_nodes(path / "openb_node_list_gpu_node.csv")
    pods = read_pods(path / "openb_pod_list_default.csv")
    assert (len(nodes), nodes.total_gpus, len(pods)) == (1213, 6212, 8152)
    got = {}
    for policy, paper in PAPER_ALLOC_AT_100.items():
        result = simulate(nodes, pods, policy, inflation=1.3, seed=42)
        got[policy] = result.alloc_at(100)
        assert got[policy] == pytest.approx(paper, abs=TOLERANCE_PP), policy
        assert [r.arrived_workload_pct for r in result.rows] == list(range(131))
    assert got["fgd"] > got["best-fit"]
