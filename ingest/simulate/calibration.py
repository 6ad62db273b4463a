"""Embedded distributions the simulated telemetry is drawn from, with their sources.

Every table is a quantile function given as knots `(level, value)`: the value below which a
fraction `level` of the samples lie; between knots it is linear. Values are drawn by
inverse-CDF sampling: `value = Q(Phi(z))` where `z` is a standard-normal latent that is
correlated in time (AR(1) processes, see telemetry.py) - a Gaussian copula. Whatever the
correlation, the marginal distribution of `value` over all samples is Q's distribution.

Real-data tables (tests/test_simulator_calibration.py re-derives them from the files and
checks the simulator's output against the files):

- GPU activity of training pods, DCGM_FI_DEV_GPU_UTIL in %: the equal-weight mixture of the
  Seren and Kalos CDFs of AcmeTrace (InternLM/AcmeTrace, NSDI'24, CC BY 4.0; files
  utilization-cdfs/util_gpu_seren.csv and util_gpu_kalos.csv). Those files hold pairs of
  columns (value, percentile); the *first* pair (col0, col1) is GPU_UTIL: upstream
  data/generate_utilization_pkl.ipynb dumps `[x1, y1, x2, y2, ...]` with x1 = GPU_UTIL
  (dcgm_metric_header[9]) and x2 = FB_USED as % of 80 GiB, and analysis.ipynb plots the first
  pair of util_gpu_seren.pkl / util_gpu_kalos.pkl as "(b) GPU Utilization (%)"; for Seren the
  third pair is SM activity. Zero share: Seren 0.314, Kalos 0.338, mixture 0.326.
- GPU memory of training pods, fraction of device memory: AcmeTrace Seren FB_USED as % of
  80 GiB (util_gpu_seren.csv col2/col3), conditional on > 0 (24 % of its samples are 0: GPUs
  with no process, which the simulator reports as unallocated instead).
- GPU activity of inference pods, %: Alibaba cluster-trace-v2026-GenAI
  pod_gpu_duty_cycle_anon.csv (143 serving pods, ~1 min steps, 22.8 h; value 0-100,
  66.8 % of samples exactly 0).
- GPU memory of inference pods, fraction of device memory: the same trace's
  pod_gpu_memory_used_bytes_anon.csv divided by 48 GiB (its largest sample is 47.3 GiB, the
  size of the 48 GB cards such a fleet runs; the simulator scales the fraction to the
  device it places the pod on).

Temporal structure (the latent weights in profiles()): the GenAI trace's per-pod lag-1
autocorrelation of the duty cycle has median 0.33 (IQR 0.28-0.37) and a strong daily
cycle (hourly share of zero samples 0.26-0.97); inference uses mostly white device noise
plus a daily term to match. Seren and Kalos differ from each other by KS 0.12, which is why
the training table is their mixture (KS about 0.06 to each by construction).

Assumed tables (no public per-step trace; stated as such): notebooks (mostly idle
interactive sessions) and batch jobs (medium/high, short startup at zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRAINING, INFERENCE, NOTEBOOK, BATCH = 0, 1, 2, 3
# AR(1) coefficients per minute of the per-device latents: activity noise and memory drift.
DEVICE_PHI_PER_MINUTE = 0.5
MEMORY_PHI_PER_MINUTE = 0.995
KIND_NAMES = ("training", "inference", "notebook", "batch")

# --- real-data quantile knots -------------------------------------------------------------

# AcmeTrace GPU_UTIL (%), mixture of Seren and Kalos (see module docstring), 0.5 % levels.
ACME_GPU_UTIL_PCT = (
    (0, 0), (0.325, 0), (0.33, 8), (0.335, 18), (0.34, 35), (0.345, 47), (0.35, 56), (0.355, 61),
    (0.36, 66), (0.365, 73), (0.37, 78), (0.375, 83), (0.38, 87), (0.385, 90), (0.39, 92),
    (0.395, 94), (0.4, 94), (0.405, 95), (0.415, 95), (0.42, 96), (0.435, 96), (0.44, 97),
    (0.455, 97), (0.46, 98), (0.525, 98), (0.53, 99), (0.72, 99), (0.725, 100), (1, 100),
)

# AcmeTrace Seren FB_USED / 80 GiB, samples > 0 only (fraction of device memory).
ACME_GPU_MEM_FRACTION = (
    (0, 0.0), (0.01, 0.0), (0.05, 0.099), (0.1, 0.249), (0.15, 0.282), (0.2, 0.303), (0.25, 0.329),
    (0.3, 0.374), (0.35, 0.394), (0.4, 0.406), (0.45, 0.434), (0.5, 0.469), (0.55, 0.503),
    (0.6, 0.557), (0.65, 0.6), (0.7, 0.658), (0.75, 0.693), (0.8, 0.735), (0.85, 0.796),
    (0.9, 0.891), (0.95, 0.977), (0.99, 0.99), (1, 0.992),
)

# Alibaba GenAI 2026 pod GPU duty cycle (%), 1 % levels.
GENAI_DUTY_CYCLE_PCT = (
    (0, 0), (0.66, 0), (0.67, 0.067), (0.68, 0.333), (0.69, 0.6), (0.7, 1), (0.71, 2.667),
    (0.72, 4.6), (0.73, 6.2), (0.74, 8.267), (0.75, 9.533), (0.76, 10.467), (0.77, 11.4),
    (0.78, 12.733), (0.79, 14.067), (0.8, 15), (0.81, 15.867), (0.82, 16.933), (0.83, 18.067),
    (0.84, 19.333), (0.85, 20.533), (0.86, 21.667), (0.87, 22.667), (0.88, 23.467),
    (0.89, 24.133), (0.9, 24.733), (0.91, 25.4), (0.92, 26.133), (0.93, 27.2), (0.94, 29),
    (0.95, 31.733), (0.96, 35.2), (0.97, 41.067), (0.98, 55.4), (0.99, 78.556), (1, 99.667),
)

# Alibaba GenAI 2026 pod GPU memory used / 48 GiB (fraction of device memory).
GENAI_MEM_FRACTION = (
    (0, 0.0), (0.01, 0.225), (0.05, 0.308), (0.1, 0.36), (0.15, 0.386), (0.2, 0.416), (0.25, 0.434),
    (0.3, 0.45), (0.35, 0.457), (0.4, 0.461), (0.45, 0.467), (0.5, 0.482), (0.55, 0.502),
    (0.6, 0.504), (0.65, 0.506), (0.7, 0.507), (0.75, 0.508), (0.8, 0.517), (0.85, 0.568),
    (0.9, 0.631), (0.95, 0.651), (0.99, 0.769), (1, 0.986),
)
GENAI_MEM_CARD_BYTES = 48 * 2**30

# --- assumed quantile knots ---------------------------------------------------------------

# Notebooks: a session is idle 85 % of the time; bursts are small interactive kernels.
NOTEBOOK_UTIL_PCT = ((0, 0), (0.85, 0), (0.88, 3), (0.92, 10), (0.96, 30), (0.99, 70), (1, 95))
NOTEBOOK_MEM_FRACTION = ((0, 0.02), (0.2, 0.08), (0.5, 0.22), (0.8, 0.45), (0.95, 0.7), (1, 0.85))
# Batch jobs: 8 % of steps at zero (image pull, data loading), then medium/high activity.
BATCH_UTIL_PCT = ((0, 0), (0.08, 0), (0.1, 15), (0.2, 35), (0.3, 50), (0.4, 60), (0.5, 68),
                  (0.6, 75), (0.7, 82), (0.8, 88), (0.9, 94), (1, 100))


@dataclass(frozen=True)
class Profile:
    """How one workload kind's telemetry is drawn.

    activity / memory: quantile knots (activity in %, memory as a fraction of the device).
    Latent for activity, z = w_static*S + w_job*J_t + w_dev*E_t + w_diurnal*D_t with
    w_static^2 + w_job^2 + w_dev^2 + w_diurnal^2 = 1, so z is (close to) N(0, 1):
      S   per workload, constant (some jobs are always busy, some always idle),
      J_t per workload AR(1) with coefficient phi_job per minute (shared by all its GPUs:
          data stalls, traffic),
      E_t per device noise: sqrt(1 - dev_white) * AR(1) with DEVICE_PHI_PER_MINUTE plus
          sqrt(dev_white) * white noise (kernel-level, request-level jitter),
      D_t sqrt(2) cos(2 pi (hour - peak) / 24), daily load cycle (inference only).
    Memory latent: w_mem_static * (per pod, constant) + sqrt(1 - w^2) * (per device AR(1),
    MEMORY_PHI_PER_MINUTE).
    *_ratio: ranges (uniform per workload) of GR_ENGINE/GPU_UTIL, SM/GR_ENGINE,
    TENSOR/SM and DRAM/GR_ENGINE.
    """

    kind: int
    activity: tuple
    memory: tuple
    source: str
    w_static: float
    w_job: float
    w_dev: float
    w_diurnal: float
    phi_job: float
    w_mem_static: float
    dev_white: float
    gr_ratio: tuple[float, float]
    sm_ratio: tuple[float, float]
    tensor_ratio: tuple[float, float]
    dram_ratio: tuple[float, float]


def _weights(static: float, job: float, diurnal: float) -> tuple[float, float, float, float]:
    dev = float(np.sqrt(1.0 - static**2 - job**2 - diurnal**2))
    return static, job, dev, diurnal


def profiles() -> tuple[Profile, ...]:
    """The four workload profiles, indexed by kind (TRAINING, INFERENCE, NOTEBOOK, BATCH)."""
    tr = _weights(0.25, 0.8, 0.0)
    inf = _weights(0.25, 0.4, 0.45)
    nb = _weights(0.6, 0.55, 0.0)
    ba = _weights(0.35, 0.6, 0.0)
    return (
        Profile(TRAINING, ACME_GPU_UTIL_PCT, ACME_GPU_MEM_FRACTION,
                "AcmeTrace Seren+Kalos GPU_UTIL CDF (CC BY 4.0)", *tr, phi_job=0.97,
                w_mem_static=0.8, dev_white=0.3, gr_ratio=(0.9, 1.0), sm_ratio=(0.5, 0.8),
                tensor_ratio=(0.35, 0.75), dram_ratio=(0.25, 0.6)),
        Profile(INFERENCE, GENAI_DUTY_CYCLE_PCT, GENAI_MEM_FRACTION,
                "Alibaba cluster-trace-v2026-GenAI pod GPU duty cycle", *inf, phi_job=0.9,
                w_mem_static=0.4, dev_white=0.5, gr_ratio=(0.85, 1.0), sm_ratio=(0.3, 0.7),
                tensor_ratio=(0.1, 0.5), dram_ratio=(0.3, 0.8)),
        Profile(NOTEBOOK, NOTEBOOK_UTIL_PCT, NOTEBOOK_MEM_FRACTION,
                "assumed: interactive sessions idle 85 % of the time", *nb, phi_job=0.95,
                w_mem_static=0.9, dev_white=0.5, gr_ratio=(0.8, 1.0), sm_ratio=(0.2, 0.6),
                tensor_ratio=(0.0, 0.4), dram_ratio=(0.1, 0.5)),
        Profile(BATCH, BATCH_UTIL_PCT, ACME_GPU_MEM_FRACTION,
                "assumed: medium/high activity after an 8 % startup", *ba, phi_job=0.95,
                w_mem_static=0.8, dev_white=0.5, gr_ratio=(0.9, 1.0), sm_ratio=(0.4, 0.8),
                tensor_ratio=(0.2, 0.6), dram_ratio=(0.2, 0.6)),
    )


def quantile(knots: tuple, u: np.ndarray) -> np.ndarray:
    """Q(u) for levels u in [0, 1] by linear interpolation between knots."""
    levels = np.array([k[0] for k in knots], dtype=np.float64)
    values = np.array([k[1] for k in knots], dtype=np.float64)
    return np.interp(u, levels, values)


class StackedQuantiles:
    """Several quantile functions evaluated in one `np.interp` call.

    Table k is laid out on x in [k, k + 1 - 1e-9]; `__call__(kind, u)` evaluates Q_kind(u)
    for arrays of kinds and levels.
    """

    def __init__(self, tables: tuple[tuple, ...]):
        xs, ys = [], []
        for k, knots in enumerate(tables):
            levels = np.array([p[0] for p in knots], dtype=np.float64)
            xs.append(k + levels * (1.0 - 1e-9))
            ys.append(np.array([p[1] for p in knots], dtype=np.float64))
        self._x = np.concatenate(xs)
        self._y = np.concatenate(ys)

    def __call__(self, kind: np.ndarray, u: np.ndarray) -> np.ndarray:
        return np.interp(kind + np.clip(u, 0.0, 1.0) * (1.0 - 1e-9), self._x, self._y)


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Standard normal CDF Phi(z), |error| < 1.5e-7 (Abramowitz & Stegun 7.1.26 for erf).

    numpy has no erf and scipy is not a runtime dependency.
    """
    x = np.abs(z) * 0.7071067811865476
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return 0.5 * (1.0 + np.sign(z) * erf)


def ar1_per_step(phi_per_minute: float, step_seconds: int) -> float:
    """An AR(1) coefficient given per minute, at another step: phi ** (step / 60)."""
    return float(phi_per_minute ** (step_seconds / 60.0))
