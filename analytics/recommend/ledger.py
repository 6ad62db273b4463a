"""The ledger that keeps one GPU-hour's cost from being saved twice.

Entries: per holder (a job, or None for unallocated capacity) and GPU device, the cost and
GPU-hours in the window (a job: active + allocated_idle; unallocated: the unallocated state),
with the device's instance type and capacity type. Every settled finding books what it
saves against entries; a later finding only sees what is left. Hence, by construction:

- the savings on a job never exceed the job's cost in the window, per device;
- the savings on unallocated capacity never exceed its cost;
- a commitment (PoolClaim) covers only on-demand cost no earlier finding removed.

Settlement formulas (claimed_usd / claimed_h: what earlier findings took; left = cost - claimed):
  DeviceClaim    saving_d = min(asked_usd_d, left_usd_d); hours_d = min(asked_h_d, left_h_d)
  FractionClaim  saving_d = fraction x left_usd_d; hours_d = fraction x left_h_d when the change
                 frees GPU time, else 0 (a price change keeps the GPU-hours)
  PoolClaim      left = pool_usd - claims on on-demand devices of those types;
                 saving = discount x min(committed_usd x left / pool_usd, left)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from gpucost.analytics.recommend.model import DeviceClaim, FractionClaim, JobKey, PoolClaim


@dataclass
class Entry:
    cost_usd: float
    gpu_hours: float
    instance_type: str | None
    capacity_type: str | None
    claimed_usd: float = 0.0
    claimed_gpu_hours: float = 0.0

    @property
    def left_usd(self) -> float:
        return max(0.0, self.cost_usd - self.claimed_usd)

    @property
    def left_gpu_hours(self) -> float:
        return max(0.0, self.gpu_hours - self.claimed_gpu_hours)


@dataclass(frozen=True)
class Settled:
    usd: float
    gpu_hours: float
    bookings: tuple[tuple[tuple[JobKey | None, int], float, float], ...] = ()


@dataclass
class Ledger:
    entries: dict[tuple[JobKey | None, int], Entry] = field(default_factory=dict)
    groups: set[tuple[str, JobKey]] = field(default_factory=set)
    pool_claimed_usd: float = 0.0

    def add(self, holder: JobKey | None, device_key: int, cost_usd: float, gpu_hours: float,
            instance_type: str | None, capacity_type: str | None) -> None:
        key = (holder, device_key)
        if key in self.entries:
            e = self.entries[key]
            e.cost_usd += cost_usd
            e.gpu_hours += gpu_hours
        else:
            self.entries[key] = Entry(cost_usd, gpu_hours, instance_type, capacity_type)

    def devices_of(self, holder: JobKey) -> list[int]:
        return sorted(d for (h, d) in self.entries if h == holder)

    def cost_of(self, holder: JobKey | None) -> float:
        return sum(e.cost_usd for (h, _), e in self.entries.items() if h == holder)

    # -- settlement ------------------------------------------------------------------------
    def quote(self, claim) -> Settled:
        """What the claim would save now, without booking it."""
        if isinstance(claim, DeviceClaim):
            out, usd, hours = [], 0.0, 0.0
            for device, (ask_usd, ask_h) in sorted(claim.devices.items()):
                e = self.entries.get((claim.holder, device))
                if e is None:
                    continue
                u, h = min(ask_usd, e.left_usd), min(ask_h, e.left_gpu_hours)
                out.append(((claim.holder, device), u, h))
                usd, hours = usd + u, hours + h
            return Settled(usd, hours, tuple(out))
        if isinstance(claim, FractionClaim):
            if claim.group and (claim.group, claim.holder) in self.groups:
                return Settled(0.0, 0.0)
            devices = claim.devices if claim.devices is not None else self.devices_of(claim.holder)
            out, usd, hours = [], 0.0, 0.0
            for device in sorted(devices):
                e = self.entries.get((claim.holder, device))
                if e is None:
                    continue
                f = claim.fraction.get(device, 0.0) if isinstance(claim.fraction, Mapping) else claim.fraction
                f = min(1.0, max(0.0, f))
                u = f * e.left_usd
                h = f * e.left_gpu_hours if claim.frees_gpu_hours else 0.0
                out.append(((claim.holder, device), u, h))
                usd, hours = usd + u, hours + h
            return Settled(usd, hours, tuple(out))
        if isinstance(claim, PoolClaim):
            if claim.pool_usd <= 0:
                return Settled(0.0, 0.0)
            taken = sum(e.claimed_usd for e in self.entries.values()
                        if e.capacity_type == "on_demand" and e.instance_type in claim.instance_types)
            left = max(0.0, claim.pool_usd - taken)
            covered = min(claim.committed_usd * left / claim.pool_usd, left)
            return Settled(claim.discount * covered, 0.0)
        raise TypeError(f"unknown claim {claim!r}")

    def book(self, claim, settled: Settled) -> None:
        for key, usd, hours in settled.bookings:
            e = self.entries[key]
            e.claimed_usd += usd
            e.claimed_gpu_hours += hours
        if isinstance(claim, FractionClaim) and claim.group:
            self.groups.add((claim.group, claim.holder))
        if isinstance(claim, PoolClaim):
            self.pool_claimed_usd += settled.usd
