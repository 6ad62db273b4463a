"""Simulator configuration, the step grid and deterministic random streams.

Time inside the simulator is an integer step index relative to `SimConfig.start`
(step 0 starts at `start`, step k at `start + k * step_seconds`). Negative steps are the
warm-up before the window: the cluster is simulated from `-warmup_steps` so that the window
opens on a cluster in steady state (jobs already running, queues formed). Every interval
boundary (node, pod, gap) is a whole step, which is what a Prometheus collector working at
the step resolution produces too.

Randomness: every concern draws from its own stream, `stream(seed, tag, *keys)`, a numpy
Generator seeded by `SeedSequence([seed, tag, *keys])`. Telemetry uses one stream per
generation block (an hour of steps), so rows never depend on how they are batched or
written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from gpucost.errors import GpucostError

MIN_GPUS = 8
MAX_GPUS = 10_000
MAX_DAYS = 366
WARMUP_DAYS = 3

# Stream tags (arbitrary distinct integers; changing one changes the simulated world).
TAG_FLEET = 11
TAG_SCHEDULE = 12
TAG_GAPS = 13
TAG_PRICES = 14
TAG_TELEMETRY = 15
TAG_TELEMETRY_INIT = 16
TAG_NAMES = 17


@dataclass(frozen=True)
class SimConfig:
    """What to simulate.

    gpus: exact number of physical GPUs in the fleet (8..10,000); MIG slices do not count.
    days: window length in days (may be fractional); the window is [start, start + days).
    seed: the only source of randomness; the same config gives identical rows.
    start: naive UTC datetime, aligned to the step. Default is a Monday, and is fixed
        (never now()) so that output is reproducible.
    step_seconds: telemetry resolution; must divide 3600 (generation works in hours).
    cluster: the `cluster` value written on every row.
    """

    gpus: int = 64
    days: float = 7.0
    seed: int = 0
    start: datetime = datetime(2026, 11, 2)
    step_seconds: int = 60
    cluster: str = "demo"

    def __post_init__(self) -> None:
        if not isinstance(self.gpus, int) or not MIN_GPUS <= self.gpus <= MAX_GPUS:
            raise GpucostError(f"--gpus must be an integer from {MIN_GPUS} to {MAX_GPUS}, got {self.gpus!r}")
        if not 0 < float(self.days) <= MAX_DAYS:
            raise GpucostError(f"--days must be more than 0 and at most {MAX_DAYS}, got {self.days!r}")
        if not isinstance(self.step_seconds, int) or not 1 <= self.step_seconds <= 3600 \
                or 3600 % self.step_seconds:
            raise GpucostError(f"step must be a whole number of seconds dividing 3600, got {self.step_seconds!r}")
        if self.start.tzinfo is not None:
            raise GpucostError("the simulation start must be a naive UTC datetime")
        since_midnight = self.start - datetime(self.start.year, self.start.month, self.start.day)
        if since_midnight.total_seconds() % self.step_seconds or self.start.microsecond:
            raise GpucostError(f"the simulation start {self.start} is not aligned to the {self.step_seconds} s step")
        if self.n_steps < 1:
            raise GpucostError(f"--days {self.days} is shorter than one {self.step_seconds} s step")
        if not self.cluster:
            raise GpucostError("the cluster name must not be empty")

    @property
    def n_steps(self) -> int:
        """Steps in the window (whole steps only)."""
        return int(round(float(self.days) * 86400)) // self.step_seconds

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.n_steps * self.step_seconds)

    @property
    def steps_per_hour(self) -> int:
        return 3600 // self.step_seconds

    @property
    def steps_per_day(self) -> int:
        return 86400 // self.step_seconds

    @property
    def warmup_steps(self) -> int:
        return WARMUP_DAYS * self.steps_per_day

    def steps(self, seconds: float) -> int:
        """A duration in seconds as a whole number of steps (at least 1)."""
        return max(1, int(round(seconds / self.step_seconds)))

    def to_datetime(self, step: int) -> datetime:
        return self.start + timedelta(seconds=int(step) * self.step_seconds)

    def ts_array(self, steps: np.ndarray) -> np.ndarray:
        """Step indices -> numpy datetime64[us] (naive UTC)."""
        base = np.datetime64(self.start, "us")
        return base + np.asarray(steps, dtype=np.int64) * np.int64(self.step_seconds * 1_000_000)

    def hour_of_day(self, steps: np.ndarray) -> np.ndarray:
        """Fractional UTC hour of day (0..24) at the start of each step."""
        offset = (self.start - datetime(self.start.year, self.start.month, self.start.day)).total_seconds()
        seconds = offset + np.asarray(steps, dtype=np.float64) * self.step_seconds
        return (seconds % 86400.0) / 3600.0

    def hour_at(self, step: int) -> float:
        """Fractional UTC hour of day (0..24) at the start of one step."""
        offset = (self.start - datetime(self.start.year, self.start.month, self.start.day)).total_seconds()
        return ((offset + step * self.step_seconds) % 86400.0) / 3600.0

    def weekday(self, step: int) -> int:
        """Day of week (Monday 0) of a step."""
        offset = (self.start - datetime(self.start.year, self.start.month, self.start.day)).total_seconds()
        return int(self.start.weekday() + (offset + step * self.step_seconds) // 86400) % 7

    def day_windows(self) -> list[tuple[int, int]]:
        """The window cut at UTC midnights, as [first_step, end_step) pairs."""
        out, a = [], 0
        while a < self.n_steps:
            t = self.to_datetime(a)
            midnight = datetime(t.year, t.month, t.day) + timedelta(days=1)
            b = min(self.n_steps, int((midnight - self.start).total_seconds()) // self.step_seconds)
            out.append((a, b))
            a = b
        return out


def pick(rng: np.random.Generator, items, p=None):
    """One element of a sequence, uniformly or with probabilities p (faster than rng.choice)."""
    if p is None:
        return items[int(rng.integers(0, len(items)))]
    u, acc = rng.random() * sum(p), 0.0
    for item, q in zip(items, p):
        acc += q
        if u < acc:
            return item
    return items[-1]


def stream(seed: int, tag: int, *keys: int) -> np.random.Generator:
    """An independent random stream for (seed, tag, keys)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, tag, *map(int, keys)]))
