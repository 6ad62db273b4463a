"""Spot price history for the spot nodes' (instance type, zone) pairs, as raw_prices rows.

Per pair: a bounded random walk around on-demand x (1 - savings), changing every few
hours (exponential gaps, mean 4 h; each change x exp(N(0, 1 %)), kept within +-10 % of
the mean) - the size and frequency of moves seen in the DescribeSpotPriceHistory archive
for us-east-1 GPU types (shared/data/prices/spot-price-history/2022). Each zone's mean is
offset by up to +-6 %. The current price is restated at the start of every window (UTC
day), so each day's load is self-contained. Prices have 4 decimals like AWS publishes.

On-demand: the packaged catalog's us-east-1 list price. Savings vs on-demand, AWS Spot
Advisor, us-east-1 Linux, June 2025 (shared/data/prices/spot_advisor_gpu_accel.csv).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from gpucost.ingest.catalog import catalog
from gpucost.ingest.simulate.config import TAG_PRICES, SimConfig, stream
from gpucost.ingest.simulate.fleet import Fleet

SPOT_SAVINGS_PCT = MappingProxyType({"p5.48xlarge": 52, "p4d.24xlarge": 67, "g5.xlarge": 59, "g5.12xlarge": 58,
                                     "g5.48xlarge": 71, "g6.xlarge": 49, "g6.12xlarge": 59})


@dataclass(frozen=True)
class SpotPrices:
    """Rows (instance_type, zone, step, usd_per_hour) sorted by step."""

    rows: list[tuple[str, str, int, float]]

    def between(self, a: int, b: int) -> list[tuple[str, str, int, float]]:
        steps = [r[2] for r in self.rows]
        return self.rows[bisect_left(steps, a):bisect_left(steps, b)]


def spot_prices(cfg: SimConfig, fleet: Fleet) -> SpotPrices:
    rng = stream(cfg.seed, TAG_PRICES)
    pairs = sorted({(n.instance_type, n.zone) for n in fleet.nodes
                    if n.capacity_type == "spot" and n.end > 0})
    day_starts = [a for a, _ in cfg.day_windows()]
    rows: list[tuple[str, str, int, float]] = []
    for itype, zone in pairs:
        mean = catalog()[itype].usd_per_hour * (1 - SPOT_SAVINGS_PCT[itype] / 100) \
            * (1 + float(rng.uniform(-0.06, 0.06)))
        price = mean * (1 + float(rng.uniform(-0.05, 0.05)))
        changes, t = [], 0
        while True:
            t += cfg.steps(3600 * float(rng.exponential(4.0)))
            if t >= cfg.n_steps:
                break
            changes.append(t)
        changed = set(changes)
        for t in sorted(changed | set(day_starts)):
            if t in changed:
                price = float(np.clip(price * np.exp(rng.normal(0, 0.01)), 0.9 * mean, 1.1 * mean))
            rows.append((itype, zone, t, round(price, 4)))
    rows.sort(key=lambda r: (r[2], r[0], r[1]))
    return SpotPrices(rows)
