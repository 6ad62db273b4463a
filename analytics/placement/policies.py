"""Node scores of the five baseline policies and the device choice inside a node.

Scores are integers in [0, 100], higher is better, computed for the feasible nodes only,
exactly as the FGD artifact's kube-scheduler score plugins do (hkust-adsl/
kubernetes-scheduler-simulator, pkg/simulator/plugin; integer truncation included, since it
decides ties). Constants: MAX_CPU = 128000 milli-cores and MAX_GPU = 8000 milli-GPU (the
largest node of the trace). For node n: c = free CPU, G = free milli-GPU over all devices;
the pod asks r_c milli-cores and r_g = num_gpu x gpu_milli milli-GPU.

- random: every feasible node equally likely (drawn by the caller).
- best-fit: trunc(100 x (1 - (0.5 (c - r_c)/MAX_CPU + 0.5 (G - r_g)/MAX_GPU))): least
  leftover wins. (The artifact min-max normalises these to [0, 100]; with raw scores in
  [0, 100] that keeps their order and ties, so it is skipped.)
- dot-product (Tetris; "merge" dimensions, "max" norm):
  trunc(100 x (1 - (c/MAX_CPU x r_c/MAX_CPU + G/MAX_GPU x r_g/MAX_GPU) / 2)).
- gpu-packing, GPU pods only (CPU-only pods score 0 everywhere): a sharing pod that fits on a
  partially used device d scores max(100 - floor(floor(free_d x 100 / 1000) / 10), 50);
  one that must open k fully free devices on a partly used node max(50 - k, 33); on a node
  whose devices are all free max(33 - free devices, free devices).
- gpu-clustering, GPU pods only: node "affinities" are the kinds of GPU pods it hosts
  (share-gpu, 1-gpu, 2-gpu, ...); base = floor(25 x (8000 - G) / 8000), plus 75 if the node
  hosts only the pod's kind, 50 if that kind among others, 25 if it hosts no GPU pod, 0 else.

Device choice (Open-Gpu-Share "best"): a sharing pod takes the device with the least free
milli-GPU that fits it (lowest index on ties); the random policy takes a random fitting
device; whole-device pods take the lowest-indexed fully free devices.
"""

from __future__ import annotations

import numpy as np

from gpucost.analytics.placement.model import MILLI
from gpucost.analytics.placement.state import ClusterState, PodRequest

MAX_CPU = 128000
MAX_GPU = 8000


def best_fit_scores(state: ClusterState, pod: PodRequest, nodes: np.ndarray) -> np.ndarray:
    left_cpu = (state.cpu_free[nodes] - pod.cpu_milli).astype(np.float64)
    left_gpu = (state.gpu_free[nodes].sum(axis=1) - pod.total_gpu_milli).astype(np.float64)
    s = left_cpu / MAX_CPU * 0.5
    s = s + left_gpu / MAX_GPU * 0.5
    return np.trunc((1.0 - s) * 100.0).astype(np.int64)


def dot_product_scores(state: ClusterState, pod: PodRequest, nodes: np.ndarray) -> np.ndarray:
    node_cpu = state.cpu_free[nodes] / MAX_CPU
    node_gpu = state.gpu_free[nodes].sum(axis=1) / MAX_GPU
    dot = node_cpu * (pod.cpu_milli / MAX_CPU)
    dot = dot + node_gpu * (pod.total_gpu_milli / MAX_GPU)
    return np.trunc(100.0 * (1.0 - dot / 2)).astype(np.int64)


def gpu_packing_scores(state: ClusterState, pod: PodRequest, nodes: np.ndarray) -> np.ndarray:
    if not pod.num_gpu:
        return np.zeros(len(nodes), dtype=np.int64)
    free = state.gpu_free[nodes]
    count = state.gpu_count[nodes]
    fully_free = (free == MILLI).sum(axis=1)
    if pod.is_sharing:
        tightest = np.where(free >= pod.gpu_milli, free, MILLI + 1).min(axis=1)
        opened = (tightest == MILLI).astype(np.int64)
        shared = np.maximum(100 - (tightest * 100 // MILLI) // 10, 50)
    else:
        opened = np.full(len(nodes), pod.num_gpu, dtype=np.int64)
        shared = np.zeros(len(nodes), dtype=np.int64)
    score = np.where(opened > 0, np.maximum(50 - opened, 33), shared)
    return np.where(fully_free == count, np.maximum(33 - fully_free, fully_free), score)


def affinity_kind(pod: PodRequest) -> int:
    """Column of a GPU pod's kind in the affinity table: 0 share-gpu, k for k whole devices."""
    return 0 if pod.is_sharing else pod.num_gpu


def gpu_clustering_scores(state: ClusterState, pod: PodRequest, nodes: np.ndarray,
                          affinity: np.ndarray) -> np.ndarray:
    """`affinity` is (N, kinds): GPU pods of each kind (see affinity_kind) hosted per node."""
    if not pod.num_gpu:
        return np.zeros(len(nodes), dtype=np.int64)
    base = 25 * (MAX_GPU - state.gpu_free[nodes].sum(axis=1)) // MAX_GPU
    hosted = affinity[nodes]
    kinds = (hosted > 0).sum(axis=1)
    same = hosted[:, affinity_kind(pod)] > 0
    bonus = np.where(same, np.where(kinds == 1, 75, 50), np.where(kinds == 0, 25, 0))
    return base + bonus


def whole_devices(free_row: np.ndarray, num_gpu: int) -> tuple[int, ...]:
    """The lowest-indexed `num_gpu` fully free devices."""
    return tuple(int(g) for g in np.flatnonzero(free_row == MILLI)[:num_gpu])


def tightest_device(free_row: np.ndarray, gpu_milli: int) -> int:
    """The fitting device with the least free milli-GPU, lowest index on ties."""
    return int(np.argmin(np.where(free_row >= gpu_milli, free_row, MILLI + 1)))


def select_devices(free_row: np.ndarray, pod: PodRequest, rng: np.random.Generator | None = None
                   ) -> tuple[int, ...]:
    """Devices for `pod` on a node: best fit, or a random fitting one when `rng` is given."""
    if not pod.num_gpu:
        return ()
    if not pod.is_sharing:
        return whole_devices(free_row, pod.num_gpu)
    if rng is not None:
        return (int(rng.choice(np.flatnonzero(free_row >= pod.gpu_milli))),)
    return (tightest_device(free_row, pod.gpu_milli),)
