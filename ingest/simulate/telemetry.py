"""Per-step DCGM values of every device, generated in blocks of one hour of steps.

Per device and step (units as dcgm-exporter reports them, rounded like it):
  gpu_util          DCGM_FI_DEV_GPU_UTIL, integer %; null on MIG slices (unsupported)
  gr_engine_active  DCGM_FI_PROF_GR_ENGINE_ACTIVE, ratio, 6 decimals
  sm_active         <= gr_engine_active;  tensor_active <= sm_active;  dram_active
  fb_used_mib / fb_free_mib   integer MiB, sum = device (or MIG slice) memory
  power_w           W, 3 decimals, idle..TDP by model; a MIG row repeats its GPU's draw
PROF fields are null on nodes without DCGM profiling (the g6/L4 nodes here).

Allocated device: activity A (%) = Q_kind(Phi(z)), z the Gaussian-copula latent of
calibration.Profile (static + workload AR(1) + device noise + daily cycle); GPU_UTIL =
round(A); GR_ENGINE = A/100 * r_gr (A/100 on MIG, where PROF fields are the only activity
source); SM/TENSOR/DRAM follow per-workload ratios with 5 % per-step jitter. Training jobs
pause for checkpoints (A = 0 on all their GPUs for 2-6 minutes every 30-90); the copula
level is shifted (u -> p + (1 - p) u, p the paused share) so that the marginal is still Q.
Inference replicas scale with the same daily cycle, so the cycle term is centred under
each Deployment's replica weighting (see __init__) - again to keep the pooled marginal Q.
Memory: Q_mem_kind(Phi(z_mem)) x device memory; unallocated devices use 0 MiB.
Power: idle + ctx (context resident) + (TDP - idle - ctx) * load^0.8, load = 0.35 GR +
0.35 SM + 0.2 TENSOR + 0.1 DRAM, 2 % jitter; a MIG GPU's load is the share-weighted sum of
its slices. Unallocated device: zero activity and memory, idle power.

Blocks are generated strictly in order (AR(1) states carry over), each from its own random
stream (seed, block index), so the values never depend on how a caller batches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from gpucost.ingest.simulate import calibration as cal
from gpucost.ingest.simulate.config import TAG_TELEMETRY, TAG_TELEMETRY_INIT, SimConfig, stream
from gpucost.ingest.simulate.fleet import FAMILIES, Fleet, gpu_models
from gpucost.ingest.simulate.outages import Gaps
from gpucost.ingest.simulate.scheduler import Schedule

FIELDS = ("gpu_util", "gr_engine_active", "sm_active", "tensor_active", "dram_active",
          "fb_used_mib", "fb_free_mib", "power_w")


@dataclass
class Block:
    """Steps [t0, t0 + n) x all devices. `present` marks rows that exist; `pod` is the
    allocated pod index (-1 none); value arrays are float64 with NaN for null."""

    t0: int
    n: int
    present: np.ndarray
    pod: np.ndarray
    values: dict[str, np.ndarray]


class Telemetry:
    """Generator of consecutive Blocks for one simulated world."""

    def __init__(self, cfg: SimConfig, fleet: Fleet, schedule: Schedule, gaps: Gaps):
        self.cfg, self.fleet, self.gaps = cfg, fleet, gaps
        dev = fleet.devices
        models = gpu_models()
        fam = [models[f] for f in FAMILIES]
        self.D = len(dev)
        self.idle = np.array([fam[f].idle_w for f in dev.family])
        self.ctx = np.array([fam[f].ctx_w for f in dev.family])
        self.tdp = np.array([fam[f].tdp_w for f in dev.family])
        self.prof = np.array([fam[f].prof for f in dev.family])
        self.mig = dev.mig_id >= 0
        self.mem = dev.mem_mib.astype(np.float64)
        self.node_start = np.array([fleet.nodes[n].start for n in dev.node], dtype=np.int64)
        self.node_end = np.array([fleet.nodes[n].end for n in dev.node], dtype=np.int64)
        mig_idx = np.nonzero(self.mig)[0]
        self.mig_idx = mig_idx
        parents, self.mig_parent = np.unique(dev.parent[mig_idx], return_inverse=True)
        self.mig_w = np.zeros((len(mig_idx), len(parents)))
        self.mig_w[np.arange(len(mig_idx)), self.mig_parent] = dev.share[mig_idx]
        # pods and workloads
        wls = schedule.workloads
        self.wl_kind = np.array([w.kind for w in wls], dtype=np.int64)
        self.wl_static = np.array([w.z_static for w in wls])
        self.wl_ratios = np.array([w.ratios for w in wls]).reshape(-1, 4)
        self.wl_peak = np.array([w.peak_hour for w in wls])
        # Replicas follow the same daily cycle (HPA): r ~ 1 + a cos(theta), a = (max-min)/(max+min),
        # so replica-steps over-sample peak hours; E_r[cos theta] = a/2 is removed from the
        # diurnal term so that the pooled marginal over replica-steps stays the trace's.
        self.wl_center = np.array([np.sqrt(2.0) * 0.5 * (w.max_replicas - w.min_replicas)
                                   / (w.max_replicas + w.min_replicas) for w in wls])
        self.wl_period = np.array([max(1, w.dip_period) for w in wls], dtype=np.int64)
        self.wl_diplen = np.array([w.dip_len if w.dip_period else 0 for w in wls], dtype=np.int64)
        self.wl_phase = np.array([w.dip_phase for w in wls], dtype=np.int64)
        pods = schedule.pods
        self.pod_wl = np.array([p.workload for p in pods], dtype=np.int64)
        self.pod_memz = np.array([p.mem_z for p in pods])
        ent = [(p.start, p.end, p.idx, d) for p in pods for d in p.devices]
        ent.sort()
        e = np.array(ent, dtype=np.int64).reshape(-1, 4)
        self.e_start, self.e_end, self.e_pod, self.e_dev = e[:, 0], e[:, 1], e[:, 2], e[:, 3]
        # per-kind parameters
        profs = cal.profiles()
        self.k_w = np.array([[p.w_static, p.w_job, p.w_dev, p.w_diurnal] for p in profs])
        self.k_phi = np.array([cal.ar1_per_step(p.phi_job, cfg.step_seconds) for p in profs])
        self.k_wmem = np.array([p.w_mem_static for p in profs])
        self.k_white = np.array([[np.sqrt(1.0 - p.dev_white), np.sqrt(p.dev_white)] for p in profs])
        self.q_act = cal.StackedQuantiles(tuple(p.activity for p in profs))
        self.q_mem = cal.StackedQuantiles(tuple(p.memory for p in profs))
        self.phi_dev = cal.ar1_per_step(cal.DEVICE_PHI_PER_MINUTE, cfg.step_seconds)
        self.phi_mem = cal.ar1_per_step(cal.MEMORY_PHI_PER_MINUTE, cfg.step_seconds)
        # AR(1) states
        init = stream(cfg.seed, TAG_TELEMETRY_INIT)
        self.dev_state = init.standard_normal(self.D)
        self.mem_state = init.standard_normal(self.D)
        self.job_state = np.full(len(wls), np.nan)

    def blocks(self) -> Iterator[Block]:
        """All blocks of the window, in order (one hour of steps each; the last may be short)."""
        per = self.cfg.steps_per_hour
        for b, t0 in enumerate(range(0, self.cfg.n_steps, per)):
            yield self._block(b, t0, min(per, self.cfg.n_steps - t0))

    @staticmethod
    def _ar(state: np.ndarray, eps: np.ndarray, phi: float | np.ndarray) -> np.ndarray:
        """AR(1) with N(0,1) marginal over the rows of eps; updates state in place."""
        out = np.empty_like(eps)
        c = np.sqrt(1.0 - np.square(phi))
        x = state
        for s in range(eps.shape[0]):
            x = phi * x + c * eps[s]
            out[s] = x
        state[:] = x
        return out

    def _block(self, b: int, t0: int, n: int) -> Block:
        cfg, D = self.cfg, self.D
        rng = stream(cfg.seed, TAG_TELEMETRY, b)
        eps_dev = rng.standard_normal((n, D), dtype=np.float32)
        eps_mem = rng.standard_normal((n, D), dtype=np.float32)
        pj = rng.standard_normal((n, D), dtype=np.float32)
        white = rng.standard_normal((n, D), dtype=np.float32)
        steps = t0 + np.arange(n)
        present = (steps[:, None] >= self.node_start[None, :]) & (steps[:, None] < self.node_end[None, :])
        for g in self.gaps.overlapping(t0, t0 + n):
            devs = self.fleet.node_devices[self.gaps.node[g]]
            present[max(0, self.gaps.start[g] - t0):max(0, self.gaps.end[g] - t0), devs] = False
        pod = self._allocations(t0, n)
        dev_ar = self._ar(self.dev_state, eps_dev, self.phi_dev)
        mem_ar = self._ar(self.mem_state, eps_mem, self.phi_mem)
        # workload-level AR(1) for the workloads active in this block
        wl = np.unique(self.pod_wl[pod[pod >= 0]])
        fresh = wl[np.isnan(self.job_state[wl])]
        self.job_state[fresh] = rng.standard_normal(len(fresh))
        state = self.job_state[wl].copy()
        job_ar = self._ar(state, rng.standard_normal((n, len(wl))), self.k_phi[self.wl_kind[wl]])
        self.job_state[wl] = state
        col = np.zeros(len(self.job_state), dtype=np.int64)
        col[wl] = np.arange(len(wl))

        size = n * D
        util = np.broadcast_to(np.where(self.mig, np.nan, 0.0), (n, D)).ravel().copy()
        prof0 = np.broadcast_to(np.where(self.prof, 0.0, np.nan), (n, D)).ravel()
        gr, sm, tensor, dram = prof0.copy(), prof0.copy(), prof0.copy(), prof0.copy()
        used = np.zeros(size)
        load = np.zeros(size)
        ctx = np.zeros(size, dtype=bool)
        podf = pod.ravel()
        cells = np.nonzero((podf >= 0) & present.ravel())[0]
        if len(cells):
            s_i, d_i = np.divmod(cells, D)
            p = podf[cells]
            w = self.pod_wl[p]
            k = self.wl_kind[w]
            kw = self.k_w[k]
            hour = cfg.hour_of_day(steps)[s_i]
            diurnal = np.sqrt(2.0) * np.cos((2.0 * np.pi / 24.0) * (hour - self.wl_peak[w])) - self.wl_center[w]
            kd = self.k_white[k]
            noise = kd[:, 0] * dev_ar.ravel()[cells] + kd[:, 1] * white.ravel()[cells]
            z = (kw[:, 0] * self.wl_static[w] + kw[:, 1] * job_ar[s_i, col[w]]
                 + kw[:, 2] * noise + kw[:, 3] * diurnal)
            dip_len = self.wl_diplen[w]
            period = self.wl_period[w]
            p_dip = dip_len / period
            act = self.q_act(k, p_dip + (1.0 - p_dip) * cal.normal_cdf(z))
            act[((s_i + (t0 - self.wl_phase[w])) % period) < dip_len] = 0.0
            mig = self.mig[d_i]
            r = self.wl_ratios[w] * np.exp(0.05 * rng.standard_normal(len(cells)))[:, None]
            np.minimum(r, 1.0, out=r)
            g = act * np.where(mig, 0.01, 0.01 * r[:, 0])
            s_ = g * r[:, 1]
            te = s_ * r[:, 2]
            dr = g * r[:, 3]
            util[cells] = np.where(mig, np.nan, np.round(act))
            nop = ~self.prof[d_i]
            for arr, val in ((gr, g), (sm, s_), (tensor, te), (dram, dr)):
                val[nop] = np.nan
                arr[cells] = val
            wm = self.k_wmem[k]
            zm = wm * self.pod_memz[p] + np.sqrt(1.0 - wm * wm) * mem_ar.ravel()[cells]
            u = np.rint(self.q_mem(k, cal.normal_cdf(zm)) * self.mem[d_i])
            used[cells] = u
            load[cells] = np.clip(0.35 * g + 0.35 * s_ + 0.2 * te + 0.1 * dr, 0.0, 1.0)
            ctx[cells] = u > 0
        used, load, ctx = used.reshape(n, D), load.reshape(n, D), ctx.reshape(n, D)
        dyn = self.tdp - self.idle - self.ctx
        power = (self.idle + self.ctx * ctx + dyn * load ** 0.8) * (1.0 + 0.02 * pj)
        if len(self.mig_idx):
            m = self.mig_idx
            gpu_load = load[:, m] @ self.mig_w
            gpu_ctx = (ctx[:, m].astype(np.float64) @ (self.mig_w > 0)) > 0
            first = m[np.unique(self.mig_parent, return_index=True)[1]]
            gpu_power = (self.idle[first] + self.ctx[first] * gpu_ctx + dyn[first] * gpu_load ** 0.8) \
                * (1.0 + 0.02 * pj[:, first])
            power[:, m] = gpu_power[:, self.mig_parent]
        power = np.round(np.clip(power, 0.9 * self.idle, self.tdp), 3)
        values = {
            "gpu_util": util.reshape(n, D),
            "gr_engine_active": np.round(gr, 6).reshape(n, D), "sm_active": np.round(sm, 6).reshape(n, D),
            "tensor_active": np.round(tensor, 6).reshape(n, D), "dram_active": np.round(dram, 6).reshape(n, D),
            "fb_used_mib": used, "fb_free_mib": self.mem[None, :] - used, "power_w": power,
        }
        return Block(t0, n, present, pod, values)

    def _allocations(self, t0: int, n: int) -> np.ndarray:
        """(n, D) pod index held per device and step, -1 where none."""
        pod = np.full((n, self.D), -1, dtype=np.int64)
        sel = np.nonzero((self.e_start < t0 + n) & (self.e_end > t0))[0]
        if len(sel):
            a = np.maximum(self.e_start[sel] - t0, 0)
            lengths = np.minimum(self.e_end[sel] - t0, n) - a
            rows = np.repeat(a - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
            pod[rows, np.repeat(self.e_dev[sel], lengths)] = np.repeat(self.e_pod[sel], lengths)
        return pod
