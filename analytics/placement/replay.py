"""Replay a workload onto a node inventory under one placement policy (FGD paper protocol).

Pods arrive one at a time in the order of protocol.py and never leave. Each pod goes to the
feasible node (state.py) with the highest policy score (policies.py, fgd.py); a pod that fits
nowhere is skipped. Ties between nodes go to the node first in a random node order drawn from
the seed: the artifact prefixes node names with a seeded random permutation, which is what
breaks its ties (`tie_break="random"` instead draws among tied nodes at every decision).

After every arriving pod (placed or skipped) the replay records, in milli-GPU:
arrived = sum of num_gpu x gpu_milli over pods offered so far, used = allocated milli-GPU
(a sharing pod counts its fraction), and the cluster fragmentation sum_n F_n(M). The rows
follow the artifact's analysis (merge_alloc_discrete.py): with T the number of GPUs,
arrived % = round(arrived / T / 10) (half to even) and alloc % = used / T / 10; the row of
integer percent p averages alloc % and fragmentation over the pods whose arrived % is p (or,
when there is none, within p - 1 .. p + 1; percents with neither are left out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpucost.analytics.placement.fragmentation import TaskDistribution
from gpucost.analytics.placement.model import NodeInventory, Workload
from gpucost.analytics.placement.placer import POLICIES, Placer
from gpucost.analytics.placement.protocol import arrival_order, random_streams
from gpucost.analytics.placement.state import ClusterState, PodRequest

__all__ = ["COLUMNS", "POLICIES", "PlacementResult", "PlacementRow", "percent_rows", "simulate"]

COLUMNS = ("arrived_workload_pct", "gpu_alloc_pct", "frag_gpu_milli")


@dataclass(frozen=True)
class PlacementRow:
    """One integer percent of arrived workload: mean GPU allocation (% of all milli-GPU)
    and mean cluster fragmentation (milli-GPU) over the pods that arrived at it."""

    arrived_workload_pct: int
    gpu_alloc_pct: float
    frag_gpu_milli: float

    def as_dict(self) -> dict:
        return {"arrived_workload_pct": self.arrived_workload_pct, "gpu_alloc_pct": self.gpu_alloc_pct,
                "frag_gpu_milli": self.frag_gpu_milli}


@dataclass(frozen=True, eq=False)
class PlacementResult:
    """A replay: per-percent rows, every arriving pod's fate, and the final cluster state.

    Per arriving pod k (arrival order): `pod_row[k]` is its workload row, `pod_node[k]` the
    inventory index of its node (-1: skipped), `pod_gpus[k]` its device indices there, and
    `arrived_gpu_milli`, `used_gpu_milli`, `frag_gpu_milli` the cluster totals after it.
    `final_state` is indexed like the inventory.
    """

    policy: str
    seed: int
    inflation: float
    total_gpus: int
    rows: tuple[PlacementRow, ...]
    pod_row: np.ndarray
    pod_node: np.ndarray
    pod_gpus: tuple[tuple[int, ...], ...]
    arrived_gpu_milli: np.ndarray
    used_gpu_milli: np.ndarray
    frag_gpu_milli: np.ndarray
    final_state: ClusterState

    @property
    def n_offered(self) -> int:
        return len(self.pod_row)

    @property
    def n_placed(self) -> int:
        return int((self.pod_node >= 0).sum())

    @property
    def n_skipped(self) -> int:
        return int((self.pod_node < 0).sum())

    def alloc_at(self, arrived_pct: int) -> float:
        """gpu_alloc_pct of the row at `arrived_pct` (KeyError when the replay has none)."""
        for row in self.rows:
            if row.arrived_workload_pct == arrived_pct:
                return row.gpu_alloc_pct
        raise KeyError(f"no row at {arrived_pct} % arrived workload")

    def as_dicts(self) -> list[dict]:
        return [row.as_dict() for row in self.rows]


def percent_rows(arrived: np.ndarray, used: np.ndarray, frag: np.ndarray, total_gpus: int
                 ) -> tuple[PlacementRow, ...]:
    """Per-integer-percent rows from per-pod totals (see module docstring)."""
    if not len(arrived):
        return ()
    pct = np.round(arrived / total_gpus / 10)
    alloc = used / total_gpus / 10
    rows = []
    for p in range(int(pct.max()) + 1):
        sel = pct == p
        if not sel.any():
            sel = np.abs(pct - p) <= 1
            if not sel.any():
                continue
        rows.append(PlacementRow(p, float(alloc[sel].mean()), float(frag[sel].mean())))
    return tuple(rows)


def simulate(nodes: NodeInventory, workload: Workload, policy: str, inflation: float = 1.3, seed: int = 42,
             *, tasks: TaskDistribution | None = None, tie_break: str = "ordered") -> PlacementResult:
    """Replay `workload`, inflated to `inflation` x GPU capacity, onto `nodes` under `policy`.

    policy: one of POLICIES (device choice: fgd by fragmentation, random at random, the others
    best fit — as in the artifact's runs). tasks: the distribution fragmentation is measured
    against (default: the typical pods of `workload`, see fragmentation.py). Deterministic for
    a seed; the paper used seeds 42-51. Raises ValueError for an unknown policy, an inventory
    without GPUs or a non-positive inflation.
    """
    if nodes.total_gpus == 0:
        raise ValueError("the node inventory has no GPUs")
    if not inflation > 0:
        raise ValueError(f"inflation must be positive, got {inflation}")
    streams = random_streams(seed)
    perm = streams["nodes"].permutation(len(nodes))   # internal node i = inventory node perm[i]
    placer = Placer(ClusterState.from_inventory(nodes).take(perm), policy,
                    tasks if tasks is not None else TaskDistribution.from_workload(workload),
                    rng=streams["policy"], tie_break=tie_break, max_gpus_per_pod=int(workload.num_gpu.max()))
    arrivals = arrival_order(workload, nodes.total_gpu_milli, inflation, streams)
    pods = [PodRequest(int(c), int(m), int(g), int(u), s) for c, m, g, u, s in
            zip(workload.cpu_milli, workload.memory_mib, workload.num_gpu, workload.gpu_milli, workload.gpu_spec)]

    n = len(arrivals)
    pod_node = np.full(n, -1, dtype=np.int64)
    pod_gpus: list[tuple[int, ...]] = [()] * n
    arrived = np.empty(n, dtype=np.int64)
    used = np.empty(n, dtype=np.int64)
    frag = np.empty(n, dtype=np.float64)
    arrived_total = used_total = 0
    for k, row in enumerate(arrivals):
        pod = pods[row]
        arrived_total += pod.total_gpu_milli
        choice = placer.place(pod)
        if choice is not None:
            used_total += pod.total_gpu_milli
            pod_node[k] = perm[choice[0]]
            pod_gpus[k] = choice[1]
        arrived[k] = arrived_total
        used[k] = used_total
        frag[k] = placer.cache.total_frag_milli

    return PlacementResult(
        policy=policy, seed=seed, inflation=inflation, total_gpus=nodes.total_gpus,
        rows=percent_rows(arrived, used, frag, nodes.total_gpus), pod_row=arrivals, pod_node=pod_node,
        pod_gpus=tuple(pod_gpus), arrived_gpu_milli=arrived, used_gpu_milli=used, frag_gpu_milli=frag,
        final_state=placer.state.take(np.argsort(perm)))
