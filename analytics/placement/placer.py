"""One placement policy deciding, pod by pod, the node and devices on a live cluster state.

The six policies (policies.py, fgd.py) of the FGD paper: random, best-fit, dot-product,
gpu-packing, gpu-clustering, fgd. Each scores the feasible nodes; the highest score wins and
ties go to the lowest node index (the simulator indexes nodes in a seeded random order, as the
artifact's name prefixes do; `tie_break="random"` draws among the tied nodes instead). The
random policy takes a uniformly random feasible node and a random fitting device; fgd picks
its device by fragmentation; the others take the best-fitting device.
"""

from __future__ import annotations

import numpy as np

from gpucost.analytics.placement.fgd import fgd_device, fgd_scores
from gpucost.analytics.placement.fragmentation import FragCache, TaskDistribution
from gpucost.analytics.placement.policies import (
    affinity_kind, best_fit_scores, dot_product_scores, gpu_clustering_scores, gpu_packing_scores,
    select_devices)
from gpucost.analytics.placement.state import ClusterState, PodRequest

POLICIES = ("random", "best-fit", "dot-product", "gpu-packing", "gpu-clustering", "fgd")

_SCORERS = {"best-fit": best_fit_scores, "dot-product": dot_product_scores,
            "gpu-packing": gpu_packing_scores}


class Placer:
    """Places pods on `state` (mutated) under `policy`, keeping fragmentation current.

    `tasks` is the distribution fragmentation is measured against (needed by fgd and for
    `cache.total_frag_milli`); `rng` drives the random policy and random tie-breaks;
    `max_gpus_per_pod` sizes the gpu-clustering affinity table.
    """

    def __init__(self, state: ClusterState, policy: str, tasks: TaskDistribution,
                 rng: np.random.Generator | None = None, tie_break: str = "ordered", max_gpus_per_pod: int = 8):
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        if tie_break not in ("ordered", "random"):
            raise ValueError(f"tie_break must be 'ordered' or 'random', got {tie_break!r}")
        self.state = state
        self.policy = policy
        self.tie_break = tie_break
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.cache = FragCache(state, tasks)
        self.affinity = np.zeros((len(state), max_gpus_per_pod + 1), dtype=np.int64)
        self._masks: dict[tuple[str, ...], np.ndarray | None] = {}

    def scores(self, pod: PodRequest, nodes: np.ndarray) -> np.ndarray:
        """The policy's integer score of each of `nodes` (feasible for `pod`); not for random."""
        if self.policy == "fgd":
            return fgd_scores(self.cache, pod, nodes)
        if self.policy == "gpu-clustering":
            return gpu_clustering_scores(self.state, pod, nodes, self.affinity)
        return _SCORERS[self.policy](self.state, pod, nodes)

    def feasible(self, pod: PodRequest) -> np.ndarray:
        if pod.gpu_spec not in self._masks:
            self._masks[pod.gpu_spec] = self.state.model_mask(pod.gpu_spec)
        return self.state.feasible(pod, self._masks[pod.gpu_spec])

    def choose(self, pod: PodRequest) -> tuple[int, tuple[int, ...]] | None:
        """(node, devices) the policy picks for `pod`, or None when no node fits it."""
        nodes = self.feasible(pod)
        if not nodes.size:
            return None
        if self.policy == "random":
            node = int(nodes[self.rng.integers(len(nodes))])
            return node, select_devices(self.state.gpu_free[node], pod, self.rng)
        scores = self.scores(pod, nodes)
        tied = nodes[scores == scores.max()]
        node = int(tied[0] if self.tie_break == "ordered" else tied[self.rng.integers(len(tied))])
        if self.policy == "fgd":
            return node, fgd_device(self.cache, pod, node)
        return node, select_devices(self.state.gpu_free[node], pod)

    def commit(self, node: int, pod: PodRequest, gpus: tuple[int, ...]) -> None:
        """Put `pod` on `node` / `gpus` and update fragmentation and affinities."""
        self.state.place(node, pod, gpus)
        self.cache.refresh(node)
        if pod.num_gpu:
            self.affinity[node, affinity_kind(pod)] += 1

    def place(self, pod: PodRequest) -> tuple[int, tuple[int, ...]] | None:
        """choose + commit; None (nothing changes) when `pod` fits nowhere."""
        choice = self.choose(pod)
        if choice is not None:
            self.commit(choice[0], pod, choice[1])
        return choice
