"""Cluster state during a placement replay: what is still free on every node and device.

Per node: free CPU (milli-cores), free memory (MiB), free milli-GPU of each device (a row of
`max_gpus` columns; columns past the node's `gpu_count` are 0 and never fit anything), and the
device model as an index into `models`. Placing a pod subtracts its CPU and memory from the
node and `gpu_milli` from each chosen device; pods never leave (the FGD protocol has no
departures).

Feasibility follows the artifact's filters (kube-scheduler NodeResourcesFit + Open-Gpu-Share):
free CPU >= request, free memory >= request, and for a GPU pod a matching model and at least
`num_gpu` devices with free milli-GPU >= `gpu_milli`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpucost.analytics.placement.model import MILLI, NodeInventory


@dataclass(frozen=True)
class PodRequest:
    """One pod to place: CPU milli-cores, memory MiB, devices and milli-GPU per device,
    and the allowed device models (empty: any)."""

    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int
    gpu_spec: tuple[str, ...] = ()

    @property
    def total_gpu_milli(self) -> int:
        return self.num_gpu * self.gpu_milli

    @property
    def is_sharing(self) -> bool:
        return self.num_gpu == 1 and 0 < self.gpu_milli < MILLI


@dataclass(eq=False)
class ClusterState:
    """Mutable free capacity of every node (see module docstring). Arrays are indexed by node."""

    cpu_free: np.ndarray      # (N,) int64 milli-cores
    mem_free: np.ndarray      # (N,) int64 MiB
    gpu_free: np.ndarray      # (N, max_gpus) int64 milli-GPU per device
    gpu_count: np.ndarray     # (N,) int64 devices
    model_id: np.ndarray      # (N,) int64 index into models
    models: tuple[str, ...]   # distinct device model names ('' = none/unknown)

    @classmethod
    def from_inventory(cls, nodes: NodeInventory) -> "ClusterState":
        """An empty cluster: everything free."""
        max_gpus = int(nodes.gpu_count.max()) if len(nodes) else 0
        gpu_free = np.where(np.arange(max(max_gpus, 1))[None, :] < nodes.gpu_count[:, None], MILLI, 0)
        models = tuple(sorted(set(nodes.gpu_model)))
        index = {m: i for i, m in enumerate(models)}
        return cls(
            cpu_free=nodes.cpu_milli.copy(),
            mem_free=nodes.memory_mib.copy(),
            gpu_free=gpu_free.astype(np.int64),
            gpu_count=nodes.gpu_count.copy(),
            model_id=np.array([index[m] for m in nodes.gpu_model], dtype=np.int64),
            models=models,
        )

    def __len__(self) -> int:
        return len(self.cpu_free)

    def copy(self) -> "ClusterState":
        return ClusterState(self.cpu_free.copy(), self.mem_free.copy(), self.gpu_free.copy(),
                            self.gpu_count.copy(), self.model_id.copy(), self.models)

    def take(self, order: np.ndarray) -> "ClusterState":
        """The same cluster with nodes re-indexed: new node i is old node order[i]."""
        return ClusterState(self.cpu_free[order], self.mem_free[order], self.gpu_free[order],
                            self.gpu_count[order], self.model_id[order], self.models)

    def model_mask(self, spec: tuple[str, ...]) -> np.ndarray | None:
        """Per model index: allowed by `spec`; None when any model is allowed."""
        if not spec:
            return None
        return np.array([m in spec for m in self.models], dtype=bool)

    @property
    def gpu_free_total(self) -> np.ndarray:
        """(N,) free milli-GPU summed over each node's devices."""
        return self.gpu_free.sum(axis=1)

    @property
    def used_gpu_milli(self) -> int:
        return int(MILLI * self.gpu_count.sum() - self.gpu_free.sum())

    def feasible(self, pod: PodRequest, model_mask: np.ndarray | None = None) -> np.ndarray:
        """Indices of nodes that can host `pod` now (ascending)."""
        ok = (self.cpu_free >= pod.cpu_milli) & (self.mem_free >= pod.memory_mib)
        if pod.num_gpu:
            if model_mask is not None:
                ok &= model_mask[self.model_id]
            ok &= (self.gpu_free >= pod.gpu_milli).sum(axis=1) >= pod.num_gpu
        return np.flatnonzero(ok)

    def place(self, node: int, pod: PodRequest, gpus: tuple[int, ...]) -> None:
        """Subtract `pod` from `node`, taking `gpu_milli` from each device in `gpus`."""
        self.cpu_free[node] -= pod.cpu_milli
        self.mem_free[node] -= pod.memory_mib
        for g in gpus:
            if self.gpu_free[node, g] < pod.gpu_milli:
                raise ValueError(f"device {g} of node {node} has {self.gpu_free[node, g]} milli-GPU free, "
                                 f"pod needs {pod.gpu_milli}")
            self.gpu_free[node, g] -= pod.gpu_milli
