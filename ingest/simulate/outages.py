"""Telemetry gaps: steps at which a node's dcgm-exporter reports nothing.

Rows are simply absent (gpucost turns them into no_data, never idle):
- exporter restarts: per node, a Poisson number at 1 per 3 node-days, each 5-20 minutes;
- startup: a node launched inside the window has no telemetry for its first 1-4 minutes
  (driver and exporter pods start after the node registers);
- one outage of 2-6 hours on one node that lives long enough (an exporter crash-looping
  until someone notices) - exactly one per simulation.
The pods on the node keep their allocations during a gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpucost.ingest.simulate.config import TAG_GAPS, SimConfig, stream
from gpucost.ingest.simulate.fleet import Fleet


@dataclass(frozen=True)
class Gaps:
    """Gaps as parallel arrays: node index and steps [start, end) within the window."""

    node: np.ndarray
    start: np.ndarray
    end: np.ndarray
    kind: tuple[str, ...]      # 'restart' | 'startup' | 'outage'

    def overlapping(self, a: int, b: int) -> np.ndarray:
        """Indices of gaps overlapping steps [a, b)."""
        return np.nonzero((self.start < b) & (self.end > a))[0]


def exporter_gaps(cfg: SimConfig, fleet: Fleet) -> Gaps:
    rng = stream(cfg.seed, TAG_GAPS)
    rows: list[tuple[int, int, int, str]] = []
    for n in fleet.nodes:
        a, b = max(0, n.start), min(cfg.n_steps, n.end)
        if b <= a:
            continue
        if n.start >= 0:
            rows.append((n.idx, n.start, min(b, n.start + cfg.steps(60 * float(rng.uniform(1, 4)))), "startup"))
        days = (b - a) / cfg.steps_per_day
        for _ in range(int(rng.poisson(days / 3.0))):
            s = int(rng.integers(a, b))
            rows.append((n.idx, s, min(b, s + cfg.steps(60 * float(rng.uniform(5, 20)))), "restart"))
    length = cfg.steps(3600 * float(rng.uniform(2, 6)))
    alive = [n for n in fleet.nodes if min(cfg.n_steps, n.end) - max(0, n.start) > length]
    if not alive:
        alive = sorted(fleet.nodes, key=lambda n: min(cfg.n_steps, n.end) - max(0, n.start))[-1:]
        length = max(1, (min(cfg.n_steps, alive[0].end) - max(0, alive[0].start)) // 2)
    n = alive[int(rng.integers(0, len(alive)))]
    a, b = max(0, n.start), min(cfg.n_steps, n.end)
    s = int(rng.integers(a, max(a + 1, b - length)))
    rows.append((n.idx, s, min(b, s + length), "outage"))
    rows.sort()
    return Gaps(np.array([r[0] for r in rows], dtype=np.int32), np.array([r[1] for r in rows], dtype=np.int64),
                np.array([r[2] for r in rows], dtype=np.int64), tuple(r[3] for r in rows))
