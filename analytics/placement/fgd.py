"""Fragmentation Gradient Descent (FGD): place a pod where it grows fragmentation least.

For a candidate node n and a way of putting the pod on it (which device, for a sharing pod),
Delta = F_n(M) before - F_n(M) after (milli-GPU, see fragmentation.py), and the score is the
artifact's trunc(100 x sigmoid(Delta / 1000)), an integer in [0, 100]: a placement that
leaves fragmentation unchanged scores 50. A node's score is that of its best device; within
the chosen node the pod takes the first device (lowest index) reaching that score. Whole-
device pods take fully free devices and CPU-only pods none, so they have one way per node.

Vectorised over all feasible nodes at once: placing a sharing pod of d milli-GPU on a device
with free v only moves that device from v to v - d, so each task's fitting-device count and
too-small free sum change by terms of v and v - d alone; devices of a node with equal free
milli-GPU give equal results and are evaluated once.
"""

from __future__ import annotations

import numpy as np

from gpucost.analytics.placement.fragmentation import FragCache
from gpucost.analytics.placement.model import MILLI
from gpucost.analytics.placement.state import PodRequest


def _scores(cache: FragCache, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    x = (before - after) / cache.weight_total / 1000.0
    return np.trunc(1.0 / (1.0 + np.exp(-x)) * 100.0).astype(np.int64)


def _after_sharing(cache: FragCache, nodes: np.ndarray, free: np.ndarray, pod: PodRequest) -> np.ndarray:
    """weight_total x F after putting `pod` on a device with `free` milli-GPU of each of `nodes`."""
    s = cache.state
    rest = free - pod.gpu_milli
    m = cache.milli
    crossed = (free[:, None] >= m) & (rest[:, None] < m)
    cnt = cache.cnt[nodes] - crossed
    below = (cache.below[nodes] - np.where(free[:, None] < m, free[:, None], 0)
             + np.where(rest[:, None] < m, rest[:, None], 0))
    return cache.frag_int(cache.gsum[nodes] - pod.gpu_milli, s.cpu_free[nodes] - pod.cpu_milli, cnt, below,
                          cache.acc[nodes])


def fgd_scores(cache: FragCache, pod: PodRequest, nodes: np.ndarray) -> np.ndarray:
    """FGD score of each of `nodes` (feasible for `pod`)."""
    s = cache.state
    before = cache.fint[nodes]
    if not pod.num_gpu:
        after = cache.frag_int(cache.gsum[nodes], s.cpu_free[nodes] - pod.cpu_milli, cache.cnt[nodes],
                               cache.below[nodes], cache.acc[nodes])
        return _scores(cache, before, after)
    if not pod.is_sharing:
        after = cache.frag_int(cache.gsum[nodes] - MILLI * pod.num_gpu, s.cpu_free[nodes] - pod.cpu_milli,
                               cache.cnt[nodes] - pod.num_gpu, cache.below[nodes], cache.acc[nodes])
        return _scores(cache, before, after)
    free = np.sort(s.gpu_free[nodes], axis=1)
    distinct = np.ones_like(free, dtype=bool)
    distinct[:, 1:] = free[:, 1:] != free[:, :-1]
    row, col = np.nonzero(distinct & (free >= pod.gpu_milli))
    cand = _scores(cache, before[row], _after_sharing(cache, nodes[row], free[row, col], pod))
    best = np.full(len(nodes), -1, dtype=np.int64)
    np.maximum.at(best, row, cand)
    return best


def fgd_device(cache: FragCache, pod: PodRequest, node: int) -> tuple[int, ...]:
    """The device(s) FGD gives `pod` on `node`."""
    free_row = cache.state.gpu_free[node]
    if not pod.is_sharing:
        return tuple(int(g) for g in np.flatnonzero(free_row == MILLI)[:pod.num_gpu])
    devices = np.flatnonzero(free_row >= pod.gpu_milli)
    nodes = np.full(len(devices), node)
    scores = _scores(cache, cache.fint[nodes], _after_sharing(cache, nodes, free_row[devices], pod))
    return (int(devices[np.argmax(scores)]),)
