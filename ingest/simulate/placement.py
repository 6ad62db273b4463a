"""Free GPU devices of the live nodes, indexed for placement decisions.

Whole-GPU nodes sit in buckets by instance type and number of free GPUs, so finding a
node with at least g free GPUs, or P completely free nodes for a gang, costs O(types x
GPUs per node) instead of a scan of the fleet. MIG nodes are indexed per profile (nodes
with at least one free slice of it).

Scoring mimics kube-scheduler's default NodeResourcesFit LeastAllocated strategy: 75 % of
the time the feasible node with the largest free fraction (ties at random), otherwise any
feasible node (other plugins and ties in a real scheduler); a device plugin hands out the
lowest-numbered free devices.
"""

from __future__ import annotations

import numpy as np

from gpucost.ingest.simulate.config import pick
from gpucost.ingest.simulate.fleet import Fleet, Node


class Bag:
    """A set with O(1) add, remove and uniform random choice."""

    __slots__ = ("items", "pos")

    def __init__(self) -> None:
        self.items: list[int] = []
        self.pos: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, x: int) -> None:
        self.pos[x] = len(self.items)
        self.items.append(x)

    def remove(self, x: int) -> None:
        i = self.pos.pop(x)
        last = self.items.pop()
        if last != x:
            self.items[i] = last
            self.pos[last] = i

    def choice(self, rng: np.random.Generator) -> int:
        return self.items[int(rng.integers(0, len(self.items)))]


class Capacity:
    """Free devices per node, indexed for placement (buckets by free-GPU count per type)."""

    def __init__(self, fleet: Fleet, rng: np.random.Generator):
        self.fleet, self.rng = fleet, rng
        self.free: dict[int, list[int]] = {}
        self.mig_free: dict[int, dict[str, list[int]]] = {}
        self.buckets: dict[str, list[Bag]] = {}
        self.mig_bags: dict[str, Bag] = {}

    def _bucket(self, node: int) -> Bag:
        n = self.fleet.nodes[node]
        return self.buckets[n.instance_type][len(self.free[node])]

    def up(self, n: Node) -> None:
        devs = [int(d) for d in self.fleet.node_devices[n.idx]]
        if n.mig_layout:
            by_profile: dict[str, list[int]] = {}
            for d in devs:
                by_profile.setdefault(self.fleet.devices.mig_profile[d], []).append(d)
            self.mig_free[n.idx] = by_profile
            for p in by_profile:
                self.mig_bags.setdefault(p, Bag()).add(n.idx)
        else:
            self.buckets.setdefault(n.instance_type, [Bag() for _ in range(n.gpu_count + 1)])
            self.free[n.idx] = devs
            self._bucket(n.idx).add(n.idx)

    def down(self, n: Node) -> None:
        if n.mig_layout:
            for p, free in self.mig_free.pop(n.idx).items():
                if free:
                    self.mig_bags[p].remove(n.idx)
        else:
            self._bucket(n.idx).remove(n.idx)
            del self.free[n.idx]

    def take(self, node: int, g: int) -> tuple[int, ...]:
        self._bucket(node).remove(node)
        free = self.free[node]
        taken, self.free[node] = tuple(free[:g]), free[g:]
        self._bucket(node).add(node)
        return taken

    def take_mig(self, node: int, profile: str) -> tuple[int, ...]:
        free = self.mig_free[node][profile]
        dev = free.pop(0)
        if not free:
            self.mig_bags[profile].remove(node)
        return (dev,)

    def release(self, node: int, devices: tuple[int, ...]) -> None:
        if node in self.mig_free:
            for d in devices:
                p = self.fleet.devices.mig_profile[d]
                free = self.mig_free[node][p]
                if not free:
                    self.mig_bags[p].add(node)
                free.append(d)
                free.sort()
        elif node in self.free:
            self._bucket(node).remove(node)
            self.free[node] = sorted(self.free[node] + list(devices))
            self._bucket(node).add(node)

    def find_gpu(self, itypes: tuple[str, ...], g: int) -> int | None:
        cands = []
        for it in itypes:
            bags = self.buckets.get(it)
            if bags:
                cap = len(bags) - 1
                cands += [(k / cap, bags[k]) for k in range(g, cap + 1) if len(bags[k])]
        if not cands:
            return None
        if self.rng.random() < 0.75:
            best = max(c[0] for c in cands)
            cands = [c for c in cands if c[0] == best]
        bag = pick(self.rng, [c[1] for c in cands], [len(c[1]) for c in cands])
        return bag.choice(self.rng)

    def find_gang(self, itype: str, pods: int) -> list[int] | None:
        bags = self.buckets.get(itype)
        if not bags or len(bags[-1]) < pods:
            return None
        pick = self.rng.choice(len(bags[-1]), size=pods, replace=False)
        return [bags[-1].items[int(i)] for i in pick]

    def find_mig(self, profile: str) -> int | None:
        bag = self.mig_bags.get(profile)
        return bag.choice(self.rng) if bag else None
