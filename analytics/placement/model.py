"""Typed inputs of the placement simulator: a node inventory and a workload of pod requests.

Units everywhere: CPU in milli-cores (1 core = 1000), memory in MiB, GPU in milli-GPU per
device (1 GPU = 1000). A pod asks for `num_gpu` devices with `gpu_milli` each:

- `num_gpu == 0`, `gpu_milli == 0`: CPU-only pod;
- `num_gpu == 1`, `0 < gpu_milli < 1000`: GPU-sharing pod (a fraction of one device);
- `num_gpu >= 1`, `gpu_milli == 1000`: whole devices.

A GPU-model constraint (`gpu_spec`) is the tuple of device models the pod may run on, in the
order given (empty: any model). These are exactly the shapes of the Alibaba GPU trace
(cluster-trace-gpu-v2023) used by the FGD paper (Weng et al., USENIX ATC'23).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MILLI = 1000  # milli-GPU in one device


def _int_array(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.int64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must not be negative (row {int(np.argmin(arr))})")
    return arr


@dataclass(frozen=True, eq=False)
class NodeInventory:
    """Nodes that pods can be placed on, one entry per node in every field.

    cpu_milli: allocatable CPU (milli-cores); memory_mib: allocatable memory (MiB);
    gpu_count: devices on the node (each 1000 milli-GPU); gpu_model: device model name
    ('' for a node without GPUs or of unknown model).
    """

    name: tuple[str, ...]
    cpu_milli: np.ndarray
    memory_mib: np.ndarray
    gpu_count: np.ndarray
    gpu_model: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", tuple(self.name))
        object.__setattr__(self, "gpu_model", tuple(self.gpu_model))
        for attr in ("cpu_milli", "memory_mib", "gpu_count"):
            object.__setattr__(self, attr, _int_array(getattr(self, attr), attr))
        n = len(self.name)
        for attr in ("cpu_milli", "memory_mib", "gpu_count", "gpu_model"):
            if len(getattr(self, attr)) != n:
                raise ValueError(f"node field {attr} has {len(getattr(self, attr))} entries, name has {n}")

    def __len__(self) -> int:
        return len(self.name)

    @property
    def total_gpus(self) -> int:
        return int(self.gpu_count.sum())

    @property
    def total_gpu_milli(self) -> int:
        return MILLI * self.total_gpus


@dataclass(frozen=True, eq=False)
class Workload:
    """Pod requests in trace order, one entry per pod in every field (see module docstring)."""

    name: tuple[str, ...]
    cpu_milli: np.ndarray
    memory_mib: np.ndarray
    num_gpu: np.ndarray
    gpu_milli: np.ndarray
    gpu_spec: tuple[tuple[str, ...], ...] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", tuple(self.name))
        n = len(self.name)
        spec = tuple(tuple(s) for s in self.gpu_spec) if self.gpu_spec else ((),) * n
        object.__setattr__(self, "gpu_spec", spec)
        for attr in ("cpu_milli", "memory_mib", "num_gpu", "gpu_milli"):
            object.__setattr__(self, attr, _int_array(getattr(self, attr), attr))
        for attr in ("cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec"):
            if len(getattr(self, attr)) != n:
                raise ValueError(f"pod field {attr} has {len(getattr(self, attr))} entries, name has {n}")
        bad = np.flatnonzero(self.gpu_milli > MILLI)
        if bad.size:
            raise ValueError(f"pod row {bad[0]}: gpu_milli {self.gpu_milli[bad[0]]} is above {MILLI}")
        bad = np.flatnonzero((self.num_gpu > 1) & (self.gpu_milli < MILLI))
        if bad.size:
            raise ValueError(f"pod row {bad[0]}: {self.num_gpu[bad[0]]} GPUs must each be whole (gpu_milli {MILLI})")
        bad = np.flatnonzero((self.num_gpu == 0) != (self.gpu_milli == 0))
        if bad.size:
            raise ValueError(f"pod row {bad[0]}: num_gpu and gpu_milli must be both zero or both positive")

    def __len__(self) -> int:
        return len(self.name)

    @property
    def total_gpu_milli(self) -> np.ndarray:
        """Per pod: num_gpu x gpu_milli (milli-GPU)."""
        return self.num_gpu * self.gpu_milli
