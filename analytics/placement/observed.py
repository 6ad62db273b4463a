"""Placement what-if on an observed cluster: how many GPU nodes a better placement would drain.

Input: one *pool* at one instant — nodes of one GPU model with their GPU cost per hour, and
the pods running on them (CPU, memory, GPUs). The pods are placed again on an empty copy of
the nodes under a policy of ``replay.POLICIES`` (best-fit by default, i.e. bin-packing as
kube-scheduler's NodeResourcesFit MostAllocated does), largest pods first (GPUs, then CPU,
then memory: first-fit-decreasing), nodes ordered cheapest GPU-hour first (spot before
on-demand at equal price) so ties fill the cheap nodes and the dear ones empty out.

Nodes left empty are drainable, except enough of the cheapest empty ones to keep
``headroom_gpus`` whole GPUs free for new pods. Pods are not moved if any of them fits
nowhere in the repacked pool (the result then drains nothing). Nodes empty already at the
instant count as drainable too (``already_empty``): removing them needs no move at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpucost.analytics.placement.fragmentation import TaskDistribution
from gpucost.analytics.placement.model import NodeInventory, Workload
from gpucost.analytics.placement.placer import Placer
from gpucost.analytics.placement.state import ClusterState, PodRequest


@dataclass(frozen=True, eq=False)
class PoolSnapshot:
    """Nodes of one pool at one instant and the pods on them.

    cost_per_hour: each node's GPU cost in USD per hour; spot: each node is spot capacity;
    pod_node: index into ``nodes`` of the node each pod runs on now (-1: unknown).
    """

    nodes: NodeInventory
    cost_per_hour: np.ndarray
    spot: np.ndarray
    pods: Workload
    pod_node: np.ndarray

    def __post_init__(self) -> None:
        for attr in ("cost_per_hour", "spot"):
            if len(getattr(self, attr)) != len(self.nodes):
                raise ValueError(f"{attr} has {len(getattr(self, attr))} entries for {len(self.nodes)} nodes")
        if len(self.pod_node) != len(self.pods):
            raise ValueError(f"pod_node has {len(self.pod_node)} entries for {len(self.pods)} pods")


@dataclass(frozen=True)
class Repack:
    """drained: names of nodes a repack empties (beyond the headroom), already_empty: of
    those, the ones no pod used at the instant; saving_per_hour: their GPU cost, USD/h;
    placed_all: every pod found a place (else nothing is drained)."""

    drained: tuple[str, ...]
    already_empty: tuple[str, ...]
    drained_gpus: int
    saving_per_hour: float
    placed_all: bool


def _pod_order(pods: Workload) -> np.ndarray:
    return np.lexsort((pods.memory_mib, pods.cpu_milli, pods.total_gpu_milli))[::-1]


def repack(snapshot: PoolSnapshot, policy: str = "best-fit", headroom_gpus: int = 0) -> Repack:
    """Place the snapshot's pods again under ``policy`` and drain the nodes left empty."""
    nodes, pods = snapshot.nodes, snapshot.pods
    if not len(nodes):
        return Repack((), (), 0, 0.0, True)
    per_gpu = snapshot.cost_per_hour / np.maximum(nodes.gpu_count, 1)
    order = np.lexsort((np.arange(len(nodes)), ~snapshot.spot.astype(bool), per_gpu))   # cheapest first
    state = ClusterState.from_inventory(nodes).take(order)
    used = np.zeros(len(nodes), dtype=bool)
    if len(pods):
        placer = Placer(state, policy, TaskDistribution.from_workload(pods), rng=np.random.default_rng(0))
        for i in _pod_order(pods):
            pod = PodRequest(int(pods.cpu_milli[i]), int(pods.memory_mib[i]), int(pods.num_gpu[i]),
                             int(pods.gpu_milli[i]), pods.gpu_spec[i])
            choice = placer.place(pod)
            if choice is None:
                return Repack((), (), 0, 0.0, False)
            used[order[choice[0]]] = True
    empty = np.flatnonzero(~used)
    keep, kept_gpus = set(), 0
    for n in sorted(empty, key=lambda n: (per_gpu[n], not snapshot.spot[n], n)):   # headroom: cheapest first
        if kept_gpus >= headroom_gpus:
            break
        keep.add(int(n))
        kept_gpus += int(nodes.gpu_count[n])
    drained = [int(n) for n in empty if int(n) not in keep]
    busy_now = set(int(n) for n in snapshot.pod_node if n >= 0)
    return Repack(
        drained=tuple(nodes.name[n] for n in drained),
        already_empty=tuple(nodes.name[n] for n in drained if n not in busy_now),
        drained_gpus=int(sum(nodes.gpu_count[n] for n in drained)),
        saving_per_hour=float(sum(snapshot.cost_per_hour[n] for n in drained)),
        placed_all=True,
    )
