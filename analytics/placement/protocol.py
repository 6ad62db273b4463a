"""The FGD paper's workload protocol: which pods arrive, in which order.

All trace pods are kept and shuffled; then pods drawn uniformly with replacement from the
trace are appended until the total GPU request (sum of num_gpu x gpu_milli over arrived pods)
reaches `inflation` x cluster capacity (1.3 x 6,212,000 milli-GPU for the Alibaba trace).
This is the artifact's order (SortClusterPods shuffles the trace, then TunePodsByNode-
TotalResource appends the draws). The artifact stops one draw early (it stops when the next
draw's per-device request would pass the target); this version takes that last draw too, so
the arrived workload always reaches the target. A trace already above the target is replayed
whole (nothing is removed).

Randomness: one `numpy.random.SeedSequence(seed)` spawns independent streams for the shuffle,
the draws, the node order and the random policy, so for one seed every policy sees the same
pods in the same order.
"""

from __future__ import annotations

import numpy as np

from gpucost.analytics.placement.model import Workload

STREAMS = ("shuffle", "inflate", "nodes", "policy")


def random_streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators named by STREAMS, all derived from `seed`."""
    return {name: np.random.default_rng(child)
            for name, child in zip(STREAMS, np.random.SeedSequence(seed).spawn(len(STREAMS)))}


def arrival_order(workload: Workload, capacity_gpu_milli: int, inflation: float,
                  streams: dict[str, np.random.Generator]) -> np.ndarray:
    """Workload row of each arriving pod, in arrival order (see module docstring)."""
    n = len(workload)
    if n == 0:
        raise ValueError("the workload has no pods")
    order = streams["shuffle"].permutation(n)
    demand = workload.total_gpu_milli
    target = inflation * capacity_gpu_milli
    total = int(demand.sum())
    if total >= target:
        return order
    if not demand.any():
        raise ValueError("the workload requests no GPU, so it cannot be inflated to a GPU target")
    extra: list[np.ndarray] = []
    rng = streams["inflate"]
    while total < target:
        draws = rng.integers(0, n, size=max(64, int((target - total) / demand.mean() * 1.2)))
        reached = total + np.cumsum(demand[draws])
        stop = int(np.searchsorted(reached, target, side="left"))
        if stop < len(draws):
            extra.append(draws[:stop + 1])
            total = int(reached[stop])
        else:
            extra.append(draws)
            total = int(reached[-1])
    return np.concatenate([order, *extra])
