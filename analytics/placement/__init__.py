"""Placement what-if: replay a GPU workload onto a node inventory under a scheduling policy.

Reproduces the protocol and the six policies of the FGD paper (Weng et al., "Beware of
Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation Gradient Descent",
USENIX ATC'23; artifact hkust-adsl/kubernetes-scheduler-simulator). Pure numpy, no IO:
`gpucost.ingest.alibaba` reads the trace files into the types below.

    result = simulate(nodes, workload, "fgd", inflation=1.3, seed=42)
    result.rows          # PlacementRow(arrived_workload_pct, gpu_alloc_pct, frag_gpu_milli)
    fragmentation(state, TaskDistribution.from_workload(workload))   # F_n(M) per node
"""

from gpucost.analytics.placement.fragmentation import TaskDistribution, fragmentation
from gpucost.analytics.placement.model import MILLI, NodeInventory, Workload
from gpucost.analytics.placement.replay import (
    COLUMNS, POLICIES, PlacementResult, PlacementRow, percent_rows, simulate)
from gpucost.analytics.placement.state import ClusterState, PodRequest

__all__ = [
    "COLUMNS", "MILLI", "POLICIES", "ClusterState", "NodeInventory", "PlacementResult", "PlacementRow",
    "PodRequest", "TaskDistribution", "Workload", "fragmentation", "percent_rows", "simulate",
]
