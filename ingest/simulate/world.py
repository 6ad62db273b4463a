"""The simulated world: everything about a SimConfig except the per-step telemetry.

Built in a fixed order from independent random streams (fleet, schedule, gaps, prices),
so changing one part of the model does not reshuffle the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpucost.ingest.simulate.config import SimConfig
from gpucost.ingest.simulate.fleet import Fleet, build_fleet
from gpucost.ingest.simulate.outages import Gaps, exporter_gaps
from gpucost.ingest.simulate.prices import SpotPrices, spot_prices
from gpucost.ingest.simulate.scheduler import Schedule, simulate_schedule
from gpucost.ingest.simulate.telemetry import Telemetry


@dataclass(frozen=True)
class World:
    cfg: SimConfig
    fleet: Fleet
    schedule: Schedule
    gaps: Gaps
    prices: SpotPrices

    def telemetry(self) -> Telemetry:
        """A fresh telemetry generator (starts at the first block)."""
        return Telemetry(self.cfg, self.fleet, self.schedule, self.gaps)


def build_world(cfg: SimConfig) -> World:
    fleet = build_fleet(cfg)
    return World(cfg, fleet, simulate_schedule(cfg, fleet), exporter_gaps(cfg, fleet), spot_prices(cfg, fleet))
