"""The simulated world: everything about a SimConfig except the per-step telemetry.

Built in a fixed order from independent random streams (fleet, schedule, gaps, prices),
so changing one part of the model does not reshuffle the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpucost.ingest.simulate.calibration import BATCH, INFERENCE, NOTEBOOK, TRAINING
from gpucost.ingest.simulate.config import SimConfig
from gpucost.ingest.simulate.fleet import Fleet, build_fleet
from gpucost.ingest.simulate.outages import Gaps, exporter_gaps
from gpucost.ingest.simulate.prices import SpotPrices, spot_prices
from gpucost.ingest.simulate.scheduler import Schedule, simulate_schedule
from gpucost.ingest.simulate.telemetry import Telemetry
from gpucost.ingest.simulate.workloads import Pod

# CPU and memory a pod requests, as a fraction of its GPU share of the node's vCPUs / RAM
# (GPU share = the pod's devices' compute slices / the node's GPUs). Below 1, so a node's
# requests never exceed its capacity and the simulated scheduler can place by GPUs alone:
# training takes most of the host for data loading, inference and notebooks little.
REQUEST_SHARE = {TRAINING: (0.9, 0.85), INFERENCE: (0.5, 0.6), NOTEBOOK: (0.25, 0.3), BATCH: (0.75, 0.7)}


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


def pod_requests(fleet: Fleet, kind: int, pod: Pod) -> tuple[float, int]:
    """(cpu cores, memory bytes) the pod requests (summed over its containers): REQUEST_SHARE
    of its GPU share of the node, CPU rounded down to 0.1 core, memory to MiB."""
    node = fleet.nodes[pod.node]
    share = float(sum(fleet.devices.share[d] for d in pod.devices)) / node.gpu_count
    cpu_f, mem_f = REQUEST_SHARE[kind]
    return int(node.vcpu * share * cpu_f * 10) / 10, int(node.memory_mib * share * mem_f) * 1048576


def build_world(cfg: SimConfig) -> World:
    fleet = build_fleet(cfg)
    return World(cfg, fleet, simulate_schedule(cfg, fleet), exporter_gaps(cfg, fleet), spot_prices(cfg, fleet))
