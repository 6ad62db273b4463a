"""Event simulation of the cluster: arrivals, placement on free GPUs, departures, interruptions.

Simulated from the warm-up start (-3 days) so the window opens in steady state. Offered load
(GPU-time demanded / capacity) per pool, chosen so that about 60-75 % of GPUs are allocated
once queueing, gang scheduling and fragmentation have taken their share:
  training  78 % of p5 + non-MIG p4d GPUs (whole nodes, gang-scheduled, FIFO per shape);
  inference 30 % of g5/g6 GPUs and 55 % of MIG slices (mean replicas over the day);
  batch     32 % of g5/g6 GPUs;  notebooks 10 % of g5/g6 GPUs and 15 % of MIG slices.
A gang takes whole free nodes, also for the 2 x 4-GPU jobs whose halves then sit on two
NVLink domains with 4 GPUs stranded on each (what the topology rule and fragmentation find).
Placement mimics kube-scheduler's default LeastAllocated scoring: 75 % of the time the
feasible node with the largest free fraction (ties at random), else any feasible node. 1-GPU
pods therefore spread over 4- and 8-GPU nodes, leaving capacity stranded for bigger pods.
A pod holds whole devices exclusively (no time-slicing). Requests wait FIFO per shape and
are dropped after max_wait (batch 6 h, notebooks 2 h, training 24 h).

A spot interruption ends every pod on the node: training jobs restart from their last
checkpoint (all pods, +10 min), batch pods retry from scratch, notebooks and inference
replicas are recreated elsewhere.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

from gpucost.ingest.catalog import catalog
from gpucost.ingest.simulate import names
from gpucost.ingest.simulate.calibration import INFERENCE, NOTEBOOK, TRAINING, profiles
from gpucost.ingest.simulate.config import TAG_SCHEDULE, SimConfig, pick, stream
from gpucost.ingest.simulate.fleet import MIG_LAYOUTS, Fleet, Node
from gpucost.ingest.simulate.placement import Capacity
from gpucost.ingest.simulate.workloads import (BATCH_MEAN_H, CRON_NAMES, NOTEBOOK_MEAN_H, TRAINING_MEAN_H, Pod,
                                               Workload, WorkloadFactory, pod_identity)

NODE_DOWN, POD_END, NODE_UP, HOUR, ARRIVAL, HPA, ROLLOUT = range(7)
G_TYPES = ("g5.48xlarge", "g5.12xlarge", "g5.xlarge", "g6.12xlarge", "g6.xlarge")
OPEN = 1 << 60


@dataclass(frozen=True)
class Schedule:
    workloads: list[Workload]
    pods: list[Pod]          # pods overlapping [0, n_steps), end clipped to n_steps, idx = position


class _Sim:
    def __init__(self, cfg: SimConfig, fleet: Fleet):
        self.cfg, self.fleet = cfg, fleet
        self.rng = stream(cfg.seed, TAG_SCHEDULE)
        self.cap = Capacity(fleet, self.rng)
        self.heap: list = []
        self.seq = 0
        self.pods: list[Pod] = []
        self.running: dict[int, list[int]] = {}      # workload -> running pod idx
        self.node_pods: dict[int, set[int]] = {}
        self.pending: dict[tuple, deque] = {}
        self.pending_of: dict[int, list] = {}       # deployment -> its pending requests
        self.dirty = True
        slots = fleet.slots
        self.type_nodes = {it: sum(1 for s in slots if s.instance_type == it and not s.mig_layout)
                           for it in sorted({s.instance_type for s in slots})}
        self.mig_slices: dict[str, int] = {}
        for s in slots:
            for profile, _ in MIG_LAYOUTS.get(s.mig_layout, ()):
                self.mig_slices[profile] = self.mig_slices.get(profile, 0) + catalog()[s.instance_type].device_count
        self.factory = WorkloadFactory(cfg, self.rng, profiles())
        self._plan_rates()

    # -- plumbing ---------------------------------------------------------------------------
    def push(self, t: int, kind: int, payload) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, kind, self.seq, payload))

    def gpus_of(self, itypes) -> int:
        """Physical GPUs of non-MIG slots of these instance types."""
        return sum(catalog()[it].device_count * self.type_nodes.get(it, 0) for it in itypes)

    def _present(self, itypes) -> tuple[str, ...]:
        return tuple(it for it in itypes if self.type_nodes.get(it, 0))

    def _plan_rates(self) -> None:
        """Arrival rates (per hour) from the offered-load targets in the module docstring."""
        c_g = self.gpus_of(G_TYPES)
        n_slices = sum(self.mig_slices.values())
        self.train_rate = {}
        for it in ("p5.48xlarge", "p4d.24xlarge"):
            nodes = self.type_nodes.get(it, 0)
            if nodes:
                mean_pods = 0.0
                for pods, q in ((1, .45), (2, .3), (4, .25)):
                    while pods > max(1, nodes // 2):
                        pods //= 2
                    mean_pods += pods * q
                self.train_rate[it] = 0.78 * nodes / (mean_pods * TRAINING_MEAN_H)
        self.batch_shapes = []
        for g, q, its in ((1, .5, G_TYPES), (2, .15, G_TYPES[:2] + G_TYPES[3:4]),
                          (4, .25, G_TYPES[:2] + G_TYPES[3:4]), (8, .1, G_TYPES[:1])):
            its = self._present(its)
            if its:
                self.batch_shapes.append((g, q, its))
        total_q = sum(s[1] for s in self.batch_shapes)
        self.batch_p = [s[1] / total_q for s in self.batch_shapes]
        mean_g = float(sum(s[0] * p for s, p in zip(self.batch_shapes, self.batch_p)))
        batch_rate = 0.32 * c_g / (mean_g * BATCH_MEAN_H)
        n_cron = min(len(CRON_NAMES), max(1, c_g // 48))
        self.crons = [(CRON_NAMES[i], pick(self.rng, (1, 2, 6, 24)), int(self.rng.integers(0, 60)))
                      for i in range(n_cron)]
        cron_rate = sum(1.0 / period for _, period, _ in self.crons)
        self.batch_rate = max(0.0, batch_rate - cron_rate)
        self.nb_types = self._present(("g5.xlarge", "g6.xlarge", "g5.12xlarge", "g6.12xlarge"))
        self.nb_rate = 0.10 * c_g / NOTEBOOK_MEAN_H
        self.nb_mig_rate = 0.15 * n_slices / NOTEBOOK_MEAN_H if "1g.5gb" in self.mig_slices else 0.0

    def _deployments(self) -> None:
        rng, cfg = self.rng, self.cfg
        pools = [self._present(("g5.xlarge", "g5.12xlarge")), self._present(("g6.xlarge", "g6.12xlarge"))]
        weights = [self.gpus_of(p) for p in pools]
        target, total = 0.30 * self.gpus_of(G_TYPES), 0.0
        while sum(weights) and total < target:
            itypes = pick(rng, pools, weights)
            w = self.factory.deployment(None, itypes)
            total += (w.min_replicas + w.max_replicas) / 2
        for profile, slices, share in (("1g.5gb", 1, .6), ("2g.10gb", 2, .25), ("3g.20gb", 3, .15)):
            have = self.mig_slices.get(profile, 0)
            target, total = 0.55 * share * sum(self.mig_slices.values()) / slices, 0.0
            while have and total < min(target, 0.8 * have):
                w = self.factory.deployment(profile, ("p4d.24xlarge",))
                w.max_replicas = max(1, min(w.max_replicas, have // 2))
                w.min_replicas = min(w.min_replicas, w.max_replicas)
                total += (w.min_replicas + w.max_replicas) / 2
        for w in self.factory.items:
            self.running[w.idx] = []
            self.pending_of[w.idx] = []
            t0 = -cfg.warmup_steps
            self.push(t0, HPA, w.idx)
            self.push(t0 + cfg.steps(86400 * float(rng.uniform(0.5, 4))), ROLLOUT, w.idx)

    # -- requests ---------------------------------------------------------------------------
    def shape(self, w: Workload) -> tuple:
        if w.kind == TRAINING:
            return ("gang", w.itypes[0], w.pods)
        if w.mig_profile:
            return ("mig", w.mig_profile)
        return ("gpu", w.itypes, w.gpus)

    def request(self, t: int, w: Workload) -> None:
        req = [t, w.idx, False]
        self.pending.setdefault(self.shape(w), deque()).append(req)
        if w.kind == INFERENCE:
            self.pending_of[w.idx].append(req)
        self.dirty = True

    def place(self, t: int, w: Workload) -> bool:
        cap = self.cap
        if w.kind == TRAINING:
            nodes = cap.find_gang(w.itypes[0], w.pods)
            if nodes is None:
                return False
            for i, n in enumerate(nodes):
                self.start_pod(t, w, n, cap.take(n, w.gpus), i)
            return True
        if w.mig_profile:
            n = cap.find_mig(w.mig_profile)
            if n is None:
                return False
            self.start_pod(t, w, n, cap.take_mig(n, w.mig_profile), 0)
            return True
        n = cap.find_gpu(w.itypes, w.gpus)
        if n is None:
            return False
        self.start_pod(t, w, n, cap.take(n, w.gpus), 0)
        return True

    def start_pod(self, t: int, w: Workload, node: int, devices: tuple[int, ...], replica: int) -> None:
        name, okind, oname, extra = pod_identity(w, replica, self.rng)
        end = OPEN if w.kind == INFERENCE else t + w.duration
        pod = Pod(len(self.pods), w.idx, name, names.pod_uid(self.rng), node, devices, t, end,
                  float(self.rng.standard_normal()), okind, oname, extra)
        self.pods.append(pod)
        self.running.setdefault(w.idx, []).append(pod.idx)
        self.node_pods.setdefault(node, set()).add(pod.idx)
        if end != OPEN:
            self.push(end, POD_END, pod.idx)

    def stop_pod(self, t: int, p: Pod, release: bool = True) -> None:
        p.end = t
        self.running[p.workload].remove(p.idx)
        self.node_pods[p.node].discard(p.idx)
        if release:
            self.cap.release(p.node, p.devices)
        self.dirty = True

    def schedule(self, t: int) -> None:
        heads = []
        for shape, q in self.pending.items():
            while q and q[0][2]:
                q.popleft()
            if q:
                heads.append((q[0][0], q[0][1], shape))
        for _, _, shape in sorted(heads, key=lambda h: (h[0], h[1])):
            q = self.pending[shape]
            while q:
                req = q[0]
                w = self.factory.items[req[1]]
                if req[2] or t - req[0] > w.max_wait:
                    q.popleft()
                    if not req[2] and w.kind == NOTEBOOK:
                        self.factory.notebook_done(w)
                    continue
                if not self.place(t, w):
                    break
                q.popleft()
                if w.kind == INFERENCE:
                    self.pending_of[w.idx].remove(req)
        self.dirty = False

    # -- events -----------------------------------------------------------------------------
    def on_node_down(self, t: int, node: Node) -> None:
        for pid in sorted(self.node_pods.get(node.idx, ())):
            p = self.pods[pid]
            if p.end <= t:
                continue
            w = self.factory.items[p.workload]
            if w.kind == TRAINING:
                for other in list(self.running[w.idx]):
                    self.stop_pod(t, self.pods[other], release=self.pods[other].node != node.idx)
                w.duration = max(1, w.duration - (t - p.start)) + self.cfg.steps(600)
                w.restarts += 1
            else:
                self.stop_pod(t, p, release=False)
                if w.kind == NOTEBOOK:
                    w.duration = max(1, w.duration - (t - p.start))
            self.request(t, w)
        self.cap.down(node)
        self.dirty = True

    def on_pod_end(self, t: int, pid: int) -> None:
        p = self.pods[pid]
        if p.end != t or pid not in self.running[p.workload]:
            return
        self.stop_pod(t, p)
        w = self.factory.items[p.workload]
        if w.kind == NOTEBOOK:
            self.factory.notebook_done(w)

    def on_hour(self, t: int) -> None:
        cfg, rng = self.cfg, self.rng
        hour = int(round(cfg.hour_at(t))) % 24
        weekend = cfg.weekday(t) >= 5
        span = cfg.steps_per_hour
        arrivals = []
        for it, rate in self.train_rate.items():
            arrivals += [("train", it)] * int(rng.poisson(rate * (0.6 if weekend else 1.0)))
        day = 0.4 if weekend else 1.0
        arrivals += [("batch", None)] * int(rng.poisson(self.batch_rate * day * (1.3 if 13 <= hour < 23 else 0.8)))
        office = (2.0 if 13 <= hour < 23 else 0.4) * (0.3 if weekend else 1.0)
        if self.nb_types:
            arrivals += [("nb", None)] * int(rng.poisson(self.nb_rate * office))
        arrivals += [("nbmig", None)] * int(rng.poisson(self.nb_mig_rate * office))
        for name, period, minute in self.crons:
            if hour % period == 0:
                arrivals.append(("cron", (name, min(span - 1, minute * 60 // cfg.step_seconds))))
        for kind, arg in arrivals:
            offset = arg[1] if kind == "cron" else int(rng.integers(0, span))
            self.push(t + offset, ARRIVAL, (kind, arg))
        self.push(t + span, HOUR, None)

    def on_arrival(self, t: int, kind: str, arg) -> None:
        f, rng = self.factory, self.rng
        if kind == "train":
            w = f.training(arg, max(1, self.type_nodes[arg] // 2))
        elif kind in ("batch", "cron"):
            g, _, its = pick(rng, self.batch_shapes, self.batch_p)
            w = f.batch(g, its, t, cron=arg[0] if kind == "cron" else None)
        elif kind == "nb":
            w = f.notebook(None, self.nb_types)
        else:
            w = f.notebook("1g.5gb", ("p4d.24xlarge",))
        self.running[w.idx] = []
        self.request(t, w)

    def on_hpa(self, t: int, widx: int) -> None:
        cfg, rng = self.cfg, self.rng
        w = self.factory.items[widx]
        load = 0.5 + 0.5 * math.cos(2 * math.pi * (cfg.hour_at(t) - w.peak_hour) / 24) \
            * (0.7 if cfg.weekday(t) >= 5 else 1.0)
        raw = round(w.min_replicas + (w.max_replicas - w.min_replicas) * load + 0.3 * rng.standard_normal())
        desired = min(w.max_replicas, max(w.min_replicas, int(raw)))
        have = len(self.running[widx]) + len(self.pending_of[widx])
        for _ in range(desired - have):
            self.request(t, w)
        excess = have - desired
        while excess > 0 and self.pending_of[widx]:
            self.pending_of[widx].pop()[2] = True
            excess -= 1
        for pid in sorted(self.running[widx], key=lambda i: -self.pods[i].start)[:max(0, excess)]:
            self.stop_pod(t, self.pods[pid])
        self.push(t + cfg.steps(1800), HPA, widx)

    def on_rollout(self, t: int, widx: int) -> None:
        w = self.factory.items[widx]
        w.rs_hash = names.k8s_suffix(self.rng, len(w.rs_hash))
        for pid in list(self.running[widx]):
            self.stop_pod(t, self.pods[pid])
            self.request(t, w)
        self.push(t + self.cfg.steps(86400 * float(self.rng.uniform(2, 5))), ROLLOUT, widx)

    def run(self) -> Schedule:
        cfg = self.cfg
        for n in self.fleet.nodes:
            self.push(n.start, NODE_UP, n.idx)
            if n.interrupted:
                self.push(n.end, NODE_DOWN, n.idx)
        self._deployments()
        self.push(-cfg.warmup_steps, HOUR, None)
        while self.heap and self.heap[0][0] < cfg.n_steps:
            t = self.heap[0][0]
            while self.heap and self.heap[0][0] == t:
                _, kind, _, payload = heapq.heappop(self.heap)
                if kind == NODE_DOWN:
                    self.on_node_down(t, self.fleet.nodes[payload])
                elif kind == POD_END:
                    self.on_pod_end(t, payload)
                elif kind == NODE_UP:
                    self.cap.up(self.fleet.nodes[payload])
                    self.dirty = True
                elif kind == HOUR:
                    self.on_hour(t)
                elif kind == ARRIVAL:
                    self.on_arrival(t, *payload)
                elif kind == HPA:
                    self.on_hpa(t, payload)
                else:
                    self.on_rollout(t, payload)
            if self.dirty:
                self.schedule(t)
        kept = []
        for p in self.pods:
            p.end = min(p.end, cfg.n_steps)
            if p.end > 0 and p.end > p.start:
                p.idx = len(kept)
                kept.append(p)
        return Schedule(self.factory.items, kept)


def simulate_schedule(cfg: SimConfig, fleet: Fleet) -> Schedule:
    """Run the event simulation over [-warmup, n_steps)."""
    return _Sim(cfg, fleet).run()
