"""Workloads (the jobs users think in) and the pods they create: kinds, owners, names, labels.

Four kinds, with the owners and naming of the controllers that run them:

- training: Kubeflow PyTorchJob (pods `<job>-master-0`, `<job>-worker-<i>`) or JobSet (pods
  `<jobset>-trainer-0-<i>-<rand>`, owned by Job `<jobset>-trainer-0`); 1, 2 or 4 pods of
  8 GPUs, each on a whole p5/p4d node; runtime lognormal, median 10 h, clipped to 2 h..4 d.
- inference: Deployments (pods `<deploy>-<pod-template-hash>-<rand>`, owned by ReplicaSet
  `<deploy>-<hash>`), 1 GPU (A10G or L4) or one MIG slice per replica; replicas follow a
  daily cycle between min and max (HPA), a new ReplicaSet rolls out every 2-5 days.
- notebook: Kubeflow Notebook (StatefulSet `<name>`, pod `<name>-0`); 1 GPU or a 1g.5gb
  slice; 70 % sessions (lognormal, median 3 h, 20 min..12 h), 30 % left running 1-7 days.
- batch: Job (pods `<job>-<rand>`) or CronJob (Jobs `<cron>-<minutes since epoch>`); 1, 2, 4
  or 8 GPUs on g5/g6; runtime lognormal, median 1.5 h, clipped to 30 min..6 h.

Namespaces: ml-research, nlp-platform, vision, search-ranking, recsys, data-science. Every
pod has the label `team` except 30 % of notebooks (team then falls back to the namespace).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

import numpy as np

from gpucost.ingest.simulate import names
from gpucost.ingest.simulate.calibration import BATCH, INFERENCE, NOTEBOOK, TRAINING, Profile
from gpucost.ingest.simulate.config import SimConfig, pick

TEAMS = MappingProxyType({"ml-research": "research", "nlp-platform": "nlp", "vision": "vision",
                          "search-ranking": "search", "recsys": "recsys", "data-science": "data-science"})
TRAINING_NAMES = MappingProxyType({
    "ml-research": ("llama-pretrain", "moe-ablation", "rlhf-ppo", "dpo-sweep", "long-context-ft"),
    "nlp-platform": ("llm-sft", "embed-distill", "mt5-finetune"),
    "vision": ("vit-pretrain", "sam-finetune", "diffusion-train"),
})
INFERENCE_NAMES = MappingProxyType({
    "search-ranking": ("query-embedder", "reranker-bge", "ltr-scorer", "spell-correct"),
    "recsys": ("two-tower-retrieval", "dlrm-ranker", "item-embedder", "session-rec"),
    "nlp-platform": ("llama-3-8b-chat", "mistral-7b-instruct", "whisper-asr", "guardrail-classifier",
                     "text-embedder"),
    "vision": ("sdxl-generate", "clip-embed", "ocr-detector"),
})
BATCH_NAMES = ("embedding-backfill", "feature-gen", "offline-eval", "index-build", "batch-infer",
               "hparam-trial", "data-dedup", "caption-gen")
CRON_NAMES = ("nightly-embeddings", "daily-reindex", "model-eval", "feature-refresh", "drift-report")
USERS = ("alice", "bob", "chen", "dana", "emeka", "fatima", "gita", "hiro", "ivan", "jun", "kofi",
         "lena", "mateo", "nadia", "omar", "priya", "quinn", "rosa", "sven", "tariq", "uma", "vik")
NOTEBOOK_FLAVOURS = ("gpu", "dev", "exp", "llm", "cv", "eda")
# Mean runtimes in hours of the distributions below (numerically, 2M draws); used to turn
# offered load into arrival rates.
TRAINING_MEAN_H = 13.7
BATCH_MEAN_H = 1.78
NOTEBOOK_MEAN_H = 31.4


@dataclass(slots=True)
class Workload:
    """A job/deployment/notebook: the top owner of its pods, placement shape and the
    per-workload telemetry parameters (see calibration.Profile)."""

    idx: int
    kind: int
    namespace: str
    owner_kind: str                 # top owner kind (Deployment, PyTorchJob, JobSet, Job, CronJob, Notebook)
    owner_name: str
    labels: dict[str, str]
    container: str
    itypes: tuple[str, ...]         # instance types it may run on
    gpus: int                       # whole GPUs per pod (0 for a MIG pod)
    mig_profile: str | None
    pods: int                       # gang size (training), else 1 per request
    duration: int                   # remaining runtime in steps (not used by inference)
    max_wait: int                   # steps a request may stay pending before it is dropped
    z_static: float
    ratios: tuple[float, float, float, float]   # GR/UTIL, SM/GR, TENSOR/SM, DRAM/GR
    peak_hour: float = 17.0
    dip_period: int = 0             # training checkpoint period, steps (0: none)
    dip_len: int = 0
    dip_phase: int = 0
    min_replicas: int = 1
    max_replicas: int = 1
    rs_hash: str = ""
    restarts: int = 0
    job_name: str = ""              # immediate Job of a CronJob/JobSet pod
    extra: dict = field(default_factory=dict)


@dataclass(slots=True)
class Pod:
    """One pod holding GPU devices over steps [start, end) on one node."""

    idx: int
    workload: int
    name: str
    uid: str
    node: int
    devices: tuple[int, ...]
    start: int
    end: int
    mem_z: float
    owner_kind: str                 # immediate owner (ReplicaSet, Job, PyTorchJob, StatefulSet)
    owner_name: str
    labels: dict[str, str]


def _lognormal_steps(rng, cfg: SimConfig, median_h: float, sigma: float, lo_h: float, hi_h: float) -> int:
    hours = float(np.clip(median_h * np.exp(sigma * rng.standard_normal()), lo_h, hi_h))
    return cfg.steps(hours * 3600)


class WorkloadFactory:
    """Creates workloads with names, labels and telemetry parameters from one random stream."""

    def __init__(self, cfg: SimConfig, rng: np.random.Generator, profs: tuple[Profile, ...]):
        self.cfg, self.rng, self.profs = cfg, rng, profs
        self.items: list[Workload] = []
        self._notebooks_running: set[str] = set()

    # -- shared ---------------------------------------------------------------------------
    def _team_labels(self, ns: str, with_team: bool = True) -> dict[str, str]:
        return {"team": TEAMS[ns]} if with_team else {}

    def _ratios(self, kind: int) -> tuple[float, float, float, float]:
        p = self.profs[kind]
        return tuple(float(self.rng.uniform(*r)) for r in (p.gr_ratio, p.sm_ratio, p.tensor_ratio, p.dram_ratio))

    def _add(self, **kw) -> Workload:
        w = Workload(idx=len(self.items), z_static=float(self.rng.standard_normal()),
                     ratios=self._ratios(kw["kind"]), **kw)
        self.items.append(w)
        return w

    # -- kinds ----------------------------------------------------------------------------
    def training(self, itype: str, max_pods: int) -> Workload:
        rng, cfg = self.rng, self.cfg
        ns = pick(rng, list(TRAINING_NAMES), [0.5, 0.3, 0.2])
        name = f"{pick(rng, TRAINING_NAMES[ns])}-{names.k8s_suffix(rng)}"
        pods = pick(rng, (1, 2, 4), (0.45, 0.3, 0.25))
        while pods > max(1, max_pods):
            pods //= 2
        # a quarter of the 2-pod jobs run 4 GPUs per pod (no extra random draw: the name decides)
        gpus = 4 if pods == 2 and sum(map(ord, name)) % 4 == 0 else 8
        jobset = rng.random() < 0.35
        labels = self._team_labels(ns)
        if jobset:
            labels |= {"jobset.sigs.k8s.io/jobset-name": name, "jobset.sigs.k8s.io/replicatedjob-name": "trainer",
                       "batch.kubernetes.io/job-name": f"{name}-trainer-0"}
        else:
            labels |= {"training.kubeflow.org/job-name": name,
                       "training.kubeflow.org/operator-name": "pytorchjob-controller"}
        period = cfg.steps(60 * float(rng.uniform(30, 90)))
        return self._add(kind=TRAINING, namespace=ns, owner_kind="JobSet" if jobset else "PyTorchJob",
                         owner_name=name, labels=labels, container="trainer" if jobset else "pytorch",
                         itypes=(itype,), gpus=gpus, mig_profile=None, pods=pods,
                         duration=_lognormal_steps(rng, cfg, 10, 0.8, 2, 96), max_wait=cfg.steps(24 * 3600),
                         dip_period=period, dip_len=min(period - 1, cfg.steps(60 * float(rng.uniform(2, 6)))),
                         dip_phase=int(rng.integers(0, period)), job_name=f"{name}-trainer-0" if jobset else "")

    def deployment(self, mig_profile: str | None, itypes: tuple[str, ...]) -> Workload:
        rng = self.rng
        ns = pick(rng, list(INFERENCE_NAMES), [0.25, 0.25, 0.35, 0.15])
        base = pick(rng, INFERENCE_NAMES[ns])
        taken = {w.owner_name for w in self.items if w.kind == INFERENCE and w.namespace == ns}
        name, i = base, 2
        while name in taken:
            name, i = f"{base}-v{i}", i + 1
        lo = pick(rng, (1, 1, 2, 2, 3))
        container = "vllm" if "llama" in name or "mistral" in name else ("triton" if ns == "recsys" else "server")
        labels = self._team_labels(ns) | {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "server"}
        return self._add(kind=INFERENCE, namespace=ns, owner_kind="Deployment", owner_name=name, labels=labels,
                         container=container, itypes=itypes, gpus=0 if mig_profile else 1, mig_profile=mig_profile,
                         pods=1, duration=0, max_wait=10**9, peak_hour=float(rng.normal(17.0, 1.5)),
                         min_replicas=lo, max_replicas=lo * int(rng.integers(2, 5)),
                         rs_hash=names.k8s_suffix(rng, int(rng.integers(9, 11))))

    def notebook(self, mig_profile: str | None, itypes: tuple[str, ...]) -> Workload:
        rng, cfg = self.rng, self.cfg
        ns = pick(rng, ("data-science", "ml-research", "vision"), (0.6, 0.25, 0.15))
        base = f"{pick(rng, USERS)}-{pick(rng, NOTEBOOK_FLAVOURS)}"
        name, i = base, 2
        while name in self._notebooks_running:
            name, i = f"{base}{i}", i + 1
        self._notebooks_running.add(name)
        if rng.random() < 0.3:
            duration = cfg.steps(86400 * float(rng.uniform(1, 7)))
        else:
            duration = _lognormal_steps(rng, cfg, 3, 0.7, 1 / 3, 12)
        labels = self._team_labels(ns, rng.random() < 0.7) | {"app": name, "notebook-name": name,
                                                             "statefulset": name}
        return self._add(kind=NOTEBOOK, namespace=ns, owner_kind="Notebook", owner_name=name, labels=labels,
                         container=name, itypes=itypes, gpus=0 if mig_profile else 1, mig_profile=mig_profile,
                         pods=1, duration=duration, max_wait=cfg.steps(2 * 3600))

    def notebook_done(self, w: Workload) -> None:
        self._notebooks_running.discard(w.owner_name)

    def batch(self, gpus: int, itypes: tuple[str, ...], t: int, cron: str | None = None) -> Workload:
        rng, cfg = self.rng, self.cfg
        if cron:
            ns = pick(rng, ("recsys", "search-ranking"))
            epoch_min = int((cfg.to_datetime(t) - datetime(1970, 1, 1)).total_seconds() // 60)
            job = f"{cron}-{epoch_min}"
            owner_kind, owner_name = "CronJob", cron
        else:
            ns = pick(rng, ("recsys", "search-ranking", "vision", "nlp-platform"), (0.35, 0.3, 0.2, 0.15))
            job = f"{pick(rng, BATCH_NAMES)}-{names.k8s_suffix(rng)}"
            owner_kind, owner_name = "Job", job
        labels = self._team_labels(ns) | {"batch.kubernetes.io/job-name": job, "job-name": job}
        return self._add(kind=BATCH, namespace=ns, owner_kind=owner_kind, owner_name=owner_name, labels=labels,
                         container="main", itypes=itypes, gpus=gpus, mig_profile=None, pods=1,
                         duration=_lognormal_steps(rng, cfg, 1.5, 0.6, 0.5, 6), max_wait=cfg.steps(6 * 3600),
                         job_name=job)


def pod_identity(w: Workload, replica: int, rng: np.random.Generator) -> tuple[str, str, str, dict[str, str]]:
    """(pod name, immediate owner kind, immediate owner name, pod-specific labels) for a new pod."""
    if w.kind == TRAINING and w.owner_kind == "PyTorchJob":
        rtype = "master" if replica == 0 else "worker"
        index = 0 if replica == 0 else replica - 1
        return (f"{w.owner_name}-{rtype}-{index}", "PyTorchJob", w.owner_name,
                {"training.kubeflow.org/replica-type": rtype, "training.kubeflow.org/replica-index": str(index)})
    if w.kind == TRAINING:
        return (f"{w.job_name}-{replica}-{names.k8s_suffix(rng)}", "Job", w.job_name,
                {"batch.kubernetes.io/job-completion-index": str(replica)})
    if w.kind == INFERENCE:
        rs = f"{w.owner_name}-{w.rs_hash}"
        return f"{rs}-{names.k8s_suffix(rng)}", "ReplicaSet", rs, {"pod-template-hash": w.rs_hash}
    if w.kind == NOTEBOOK:
        pod = f"{w.owner_name}-0"
        return pod, "StatefulSet", w.owner_name, {"statefulset.kubernetes.io/pod-name": pod}
    return f"{w.job_name}-{names.k8s_suffix(rng)}", "Job", w.job_name, {}
