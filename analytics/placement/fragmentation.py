"""GPU fragmentation of a node against a workload's task distribution (FGD paper, Sec. 4).

Definitions (Weng et al., "Beware of Fragmentation", USENIX ATC'23, and the artifact's
`NodeGpuShareFragAmount`). A task shape m asks for cpu_m milli-cores and num_m devices with
milli_m milli-GPU each, optionally restricted to some device models; p_m is its popularity.
For node n with free CPU c_n, free milli-GPU g_1..g_k on its devices and G_n = sum_i g_i:

    frag_n(m) = sum_{i: g_i < milli_m} g_i   if m fits on n: milli_m > 0, the model matches,
                                              c_n >= cpu_m and #{i: g_i >= milli_m} >= num_m
              = G_n                          otherwise (m cannot use any of n's free GPU; a
                                              CPU-only task, milli_m = 0, always counts here)

    F_n(M) = sum_m p_m * frag_n(m)           (milli-GPU; "frag_gpu_milli")

So when m fits, only the partially-free devices too small for it are fragments; when m does
not fit, all free GPU capacity of the node is. Memory is not part of the measure.

The task distribution M is the artifact's "typical pods": group the workload's pods by shape
(cpu, milli-GPU per device, devices, model constraint), sort by count (descending; ties by
larger shape first) and keep the smallest prefix covering >= 95 % of pods (CPU-only pods
included), re-normalised. Popularities are kept as integer counts (`weight`) so that F_n is
computed exactly as an integer sum divided by the total weight.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from gpucost.analytics.placement.model import MILLI, Workload
from gpucost.analytics.placement.state import ClusterState


@dataclass(frozen=True, eq=False)
class TaskDistribution:
    """Task shapes and their popularity counts (popularity p_m = weight_m / sum(weight))."""

    cpu_milli: np.ndarray
    gpu_milli: np.ndarray       # per device; 0 for CPU-only tasks
    num_gpu: np.ndarray
    gpu_spec: tuple[tuple[str, ...], ...]
    weight: np.ndarray          # int64 pod counts

    def __post_init__(self) -> None:
        for attr in ("cpu_milli", "gpu_milli", "num_gpu", "weight"):
            object.__setattr__(self, attr, np.asarray(getattr(self, attr), dtype=np.int64))
        object.__setattr__(self, "gpu_spec", tuple(tuple(s) for s in self.gpu_spec) or ((),) * len(self.weight))
        if not len(self.weight) or self.weight.min() <= 0:
            raise ValueError("a task distribution needs at least one task, all with positive weight")
        if not (len(self.cpu_milli) == len(self.gpu_milli) == len(self.num_gpu) == len(self.gpu_spec)
                == len(self.weight)):
            raise ValueError("task distribution fields differ in length")
        if ((self.gpu_milli < 0) | (self.gpu_milli > MILLI) | ((self.gpu_milli > 0) != (self.num_gpu > 0))).any():
            raise ValueError(f"task gpu_milli must be 0 (CPU-only, num_gpu 0) or 1..{MILLI} with num_gpu > 0")

    def __len__(self) -> int:
        return len(self.weight)

    @property
    def popularity(self) -> np.ndarray:
        return self.weight / self.weight.sum()

    @classmethod
    def from_workload(cls, workload: Workload, popularity_pct: float = 95.0,
                      include_cpu_tasks: bool = True) -> "TaskDistribution":
        """The artifact's typical pods of `workload` (see module docstring)."""
        counts: Counter = Counter()
        for i in range(len(workload)):
            if not include_cpu_tasks and workload.num_gpu[i] == 0:
                continue
            counts[(int(workload.cpu_milli[i]), int(workload.gpu_milli[i]), int(workload.num_gpu[i]),
                    workload.gpu_spec[i])] += 1
        if not counts:
            raise ValueError("the workload has no pods to build a task distribution from")
        total = sum(counts.values())
        shapes = sorted(counts, key=lambda k: (counts[k], k[0], k[1], k[2], "|".join(k[3])), reverse=True)
        kept, cum = [], 0
        for shape in shapes:
            if cum >= popularity_pct * total / 100.0:
                break
            kept.append(shape)
            cum += counts[shape]
        return cls(cpu_milli=[s[0] for s in kept], gpu_milli=[s[1] for s in kept],
                   num_gpu=[s[2] for s in kept], gpu_spec=[s[3] for s in kept],
                   weight=[counts[s] for s in kept])


def count_and_below(gpu_free: np.ndarray, milli: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For free milli-GPU rows (..., devices) and task sizes (M,): the number of devices with
    free >= milli_m, and the free milli-GPU summed over devices with free < milli_m."""
    ge = gpu_free[..., :, None] >= milli
    return ge.sum(axis=-2), np.where(ge, 0, gpu_free[..., :, None]).sum(axis=-2)


class FragCache:
    """F_n(M) of every node, kept current by `refresh(node)` after each placement.

    Holds, per node n and GPU task m: the device count fitting m (`cnt`), the free milli-GPU
    on devices too small for m (`below`), model access (`acc`), free GPU total (`gsum`) and
    weight_total x F_n as an exact integer (`fint`). The FGD policy evaluates hypothetical
    placements with `frag_int` on modified copies of these terms.
    """

    def __init__(self, state: ClusterState, tasks: TaskDistribution):
        self.state = state
        gpu = tasks.gpu_milli > 0
        self.cpu = tasks.cpu_milli[gpu]
        self.milli = tasks.gpu_milli[gpu]
        self.num = tasks.num_gpu[gpu]
        self.w = tasks.weight[gpu]
        self.w_cpu_tasks = int(tasks.weight[~gpu].sum())
        self.weight_total = int(tasks.weight.sum())
        specs = [s for s, g in zip(tasks.gpu_spec, gpu) if g]
        allowed = np.array([[not s or model in s for s in specs] for model in state.models], dtype=bool)
        self.acc = allowed.reshape(len(state.models), len(specs))[state.model_id]
        self.cnt, self.below = count_and_below(state.gpu_free, self.milli)
        self.gsum = state.gpu_free.sum(axis=1)
        self.fint = self.frag_int(self.gsum, state.cpu_free, self.cnt, self.below, self.acc)
        self.total_fint = int(self.fint.sum())

    def frag_int(self, gsum: np.ndarray, cpu_free: np.ndarray, cnt: np.ndarray, below: np.ndarray,
                 acc: np.ndarray) -> np.ndarray:
        """weight_total x F for rows of terms (exact int64; see module docstring)."""
        fits = acc & (cpu_free[:, None] >= self.cpu) & (cnt >= self.num)
        return self.w_cpu_tasks * gsum + np.where(fits, below, gsum[:, None]) @ self.w

    def refresh(self, node: int) -> None:
        """Recompute node's terms from the state after it changed."""
        s = self.state
        cnt, below = count_and_below(s.gpu_free[node], self.milli)
        self.cnt[node], self.below[node] = cnt, below
        self.gsum[node] = s.gpu_free[node].sum()
        new = int(self.frag_int(self.gsum[node:node + 1], s.cpu_free[node:node + 1], cnt[None], below[None],
                                self.acc[node:node + 1])[0])
        self.total_fint += new - int(self.fint[node])
        self.fint[node] = new

    @property
    def frag_milli(self) -> np.ndarray:
        """(N,) F_n(M) in milli-GPU."""
        return self.fint / self.weight_total

    @property
    def total_frag_milli(self) -> float:
        """sum_n F_n(M) in milli-GPU (the artifact's cluster "frag_gpu_milli")."""
        return self.total_fint / self.weight_total


def fragmentation(node_state: ClusterState, task_distribution: TaskDistribution) -> np.ndarray:
    """F_n(M) in milli-GPU for every node of `node_state` (see module docstring)."""
    return FragCache(node_state, task_distribution).frag_milli
