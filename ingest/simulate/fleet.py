"""The simulated AWS GPU fleet: node slots, node incarnations (spot interruptions) and devices.

Composition (`plan_slots`): exactly `gpus` physical GPUs, about 30 % H100 (p5.48xlarge,
8 GPUs), 25 % A100 40GB (p4d.24xlarge, 8), 25 % A10G (g5.48xlarge 8, g5.12xlarge 4,
g5.xlarge 1) and 20 % L4 (g6.12xlarge 4, g6.xlarge 1); the 1-GPU types absorb rounding so the
total is exact. Small fleets keep at least 45 % of their GPUs on g5/g6 (so 8..31 GPUs may
have no p5/p4d). About 10 % of p4d nodes (at least one when there is a p4d) are
MIG-partitioned with NVIDIA mig-parted's A100-40GB configs `all-balanced`
(3g.20gb + 2g.10gb + 2x 1g.5gb per GPU) or `all-1g.5gb` (7x 1g.5gb).

Capacity: p5 and MIG nodes on-demand; other p4d spot with probability 0.3; g5/g6 spot with
probability 0.5-0.7. A slot is one Karpenter NodeClaim line: when its spot node is
interrupted, a new node (new name, instance id and GPUs) replaces it after 3-8 minutes.
Interruption rate per spot node: the midpoint of the AWS Spot Advisor monthly
interruption-frequency bucket for us-east-1 (spot_advisor_gpu_accel.csv, June 2025:
p4d.24xlarge "10-15%", p5/g5/g6 types ">20%", taken as 25 %/month); a simulation with spot
nodes always has at least one interruption inside its window.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from gpucost.ingest.catalog import catalog
from gpucost.ingest.simulate import names
from gpucost.ingest.simulate.config import TAG_FLEET, SimConfig, stream


@dataclass(frozen=True)
class GpuModel:
    """Per-model facts. Power in W: idle (no context), ctx (extra with a CUDA context
    resident, no kernels), tdp (board power limit: H100 SXM 700, A100 SXM 400, A10G 300,
    L4 72). prof: DCGM profiling (DCP) fields enabled in the exporter; off on the L4 nodes
    here to exercise the GPU_UTIL fallback."""

    key: str
    model_name: str          # DCGM modelName
    gfd_product: str         # nvidia.com/gpu.product (GPU feature discovery)
    gpu_name: str            # karpenter.k8s.aws/instance-gpu-name
    idle_w: float
    ctx_w: float
    tdp_w: float
    prof: bool


def gpu_models() -> dict[str, GpuModel]:
    # idle draws: H100 and L4 from the real dcgm-exporter captures in shared/data/dcgm
    # (66-70 W, 16.4 W); A100 SXM and A10G from typical nvidia-smi idle readings.
    return {
        "p5": GpuModel("h100", "NVIDIA H100 80GB HBM3", "NVIDIA-H100-80GB-HBM3", "h100", 68.0, 30.0, 700.0, True),
        "p4d": GpuModel("a100", "NVIDIA A100-SXM4-40GB", "NVIDIA-A100-SXM4-40GB", "a100", 52.0, 20.0, 400.0, True),
        "g5": GpuModel("a10g", "NVIDIA A10G", "NVIDIA-A10G", "a10g", 24.0, 10.0, 300.0, True),
        "g6": GpuModel("l4", "NVIDIA L4", "NVIDIA-L4", "l4", 16.4, 4.0, 72.0, False),
    }


# A100 40GB MIG profiles: compute slices and memory (MiB) as nvidia-smi mig -lgip lists them.
MIG_PROFILES = MappingProxyType({"1g.5gb": (1, 4864), "2g.10gb": (2, 9984), "3g.20gb": (3, 20096),
                                 "4g.20gb": (4, 20096), "7g.40gb": (7, 40448)})
# mig-parted config name -> (profile, GPU instance id) per GPU.
MIG_LAYOUTS = MappingProxyType({
    "all-balanced": (("3g.20gb", 2), ("2g.10gb", 3), ("1g.5gb", 9), ("1g.5gb", 10)),
    "all-1g.5gb": tuple(("1g.5gb", 7 + i) for i in range(7)),
})
INSTANCE_TYPES = ("p5.48xlarge", "p4d.24xlarge", "g5.48xlarge", "g5.12xlarge", "g5.xlarge",
                  "g6.12xlarge", "g6.xlarge")
# Spot Advisor (us-east-1, Linux, June 2025): interruption bucket -> monthly rate used here.
SPOT_INTERRUPTIONS_PER_MONTH = MappingProxyType({
    "p4d.24xlarge": 0.125, "p5.48xlarge": 0.25, "g5.48xlarge": 0.25, "g5.12xlarge": 0.25, "g5.xlarge": 0.25,
    "g6.12xlarge": 0.25, "g6.xlarge": 0.25})


@dataclass(frozen=True)
class Slot:
    idx: int
    instance_type: str
    capacity_type: str       # 'on_demand' | 'spot'
    zone: str
    mig_layout: str | None
    nodepool: str


@dataclass(frozen=True)
class Node:
    """One Kubernetes node (one EC2 instance) alive over steps [start, end)."""

    idx: int
    slot: int
    name: str
    ip: str
    instance_id: str
    system_uuid: str
    instance_type: str
    family: str
    capacity_type: str
    zone: str
    nodepool: str
    mig_layout: str | None
    gpu_count: int
    vcpu: int
    memory_mib: int
    start: int
    end: int
    interrupted: bool        # ended by a spot interruption (not by the end of the simulation)

    @property
    def provider_id(self) -> str:
        return f"aws:///{self.zone}/{self.instance_id}"


@dataclass(frozen=True)
class Devices:
    """All devices of all nodes, struct-of-arrays (index = device id inside the simulator).

    A whole GPU is one device; a MIG-partitioned GPU contributes one device per GPU instance
    (same gpu_uuid). `parent` numbers physical GPUs across the fleet; `share` is the device's
    fraction of its physical GPU in compute slices (1.0 for a whole GPU).
    """

    node: np.ndarray            # int32, Node.idx
    gpu_index: np.ndarray       # int32
    parent: np.ndarray          # int32
    share: np.ndarray           # float64
    mig_id: np.ndarray          # int32, -1 for a whole GPU
    mem_mib: np.ndarray         # int64, device (or slice) memory
    family: np.ndarray          # int8 index into FAMILIES
    uuid: list[str]
    device_id: list[str]
    mig_profile: list[str | None]

    def __len__(self) -> int:
        return len(self.node)


FAMILIES = ("p5", "p4d", "g5", "g6")


@dataclass(frozen=True)
class Fleet:
    slots: list[Slot]
    nodes: list[Node]
    devices: Devices
    node_devices: list[np.ndarray]   # device indices per node


def _half_up(x: float) -> int:
    return int(np.floor(x + 0.5))


def plan_counts(gpus: int) -> dict[str, int]:
    """Node count per instance type for exactly `gpus` GPUs (see module docstring)."""
    h, a = _half_up(0.30 * gpus / 8), _half_up(0.25 * gpus / 8)
    keep = int(np.ceil(0.45 * gpus))
    while 8 * (h + a) > gpus - keep:
        if a >= h and a > 0:
            a -= 1
        else:
            h -= 1
    g5 = min(gpus - 8 * (h + a), _half_up(0.25 * gpus))
    g6 = gpus - 8 * (h + a) - g5
    g5_48 = int(0.2 * g5 / 8)
    g5_12 = int(0.4 * g5 / 4)
    g6_12 = int(0.4 * g6 / 4)
    return {"p5.48xlarge": h, "p4d.24xlarge": a, "g5.48xlarge": g5_48, "g5.12xlarge": g5_12,
            "g5.xlarge": g5 - 8 * g5_48 - 4 * g5_12, "g6.12xlarge": g6_12, "g6.xlarge": g6 - 4 * g6_12}


def plan_slots(gpus: int, seed: int) -> list[Slot]:
    """Node slots (instance type, capacity type, zone, MIG layout) for an exact GPU total."""
    rng = stream(seed, TAG_FLEET, 0)
    counts = plan_counts(gpus)
    n_mig = max(1, _half_up(0.1 * counts["p4d.24xlarge"])) if counts["p4d.24xlarge"] else 0
    spot_p = {"p5.48xlarge": 0.0, "p4d.24xlarge": 0.3, "g5.48xlarge": 0.5, "g5.12xlarge": 0.6,
              "g5.xlarge": 0.7, "g6.12xlarge": 0.6, "g6.xlarge": 0.7}
    slots: list[Slot] = []
    for itype in INSTANCE_TYPES:
        for i in range(counts[itype]):
            mig = None
            if itype == "p4d.24xlarge" and i < n_mig:
                mig = ("all-balanced", "all-1g.5gb")[i % 2]
            spot = mig is None and rng.random() < spot_p[itype]
            if itype.startswith("p"):
                zone = names.ZONES[int(rng.random() < 0.3)]
                pool = "gpu-mig" if mig else "gpu-training"
            else:
                zone = names.ZONES[int(rng.choice(4, p=[0.3, 0.3, 0.2, 0.2]))]
                pool = "gpu-batch" if itype == "g5.48xlarge" else "gpu-inference"
            slots.append(Slot(len(slots), itype, "spot" if spot else "on_demand", zone, mig, pool))
    return slots


def _interruptions(cfg: SimConfig, slots: list[Slot], rng: np.random.Generator) -> dict[int, list[int]]:
    """Interruption steps per spot slot over [-warmup, n_steps)."""
    span = cfg.warmup_steps + cfg.n_steps
    month = 30 * cfg.steps_per_day
    out: dict[int, list[int]] = {}
    for s in slots:
        if s.capacity_type != "spot":
            continue
        rate = SPOT_INTERRUPTIONS_PER_MONTH[s.instance_type] / month
        n = int(rng.poisson(rate * span))
        out[s.idx] = sorted(int(t) - cfg.warmup_steps for t in rng.integers(0, span, n))
    spot = sorted(out)
    if spot and not any(0 <= t < cfg.n_steps for ts in out.values() for t in ts):
        s = spot[int(rng.integers(0, len(spot)))]
        t = int(cfg.n_steps * (0.1 + 0.8 * rng.random()))
        out[s] = sorted(out[s] + [t])
    return out


def build_fleet(cfg: SimConfig) -> Fleet:
    """Slots, their node incarnations over [-warmup, n_steps) and every device."""
    slots = plan_slots(cfg.gpus, cfg.seed)
    rng = stream(cfg.seed, TAG_FLEET, 1)
    cat = catalog()
    ips = names.NodeIps(rng)
    interrupts = _interruptions(cfg, slots, rng)
    nodes: list[Node] = []
    for s in slots:
        it = cat[s.instance_type]
        start = -cfg.warmup_steps
        cuts = [t for t in interrupts.get(s.idx, []) if t > start]
        zone = s.zone
        while start < cfg.n_steps:
            end = cuts.pop(0) if cuts else cfg.n_steps
            if end > start:
                ip = ips.take(zone)
                nodes.append(Node(len(nodes), s.idx, names.node_name(ip), ip, names.instance_id(rng),
                                  names.system_uuid(rng), s.instance_type, s.instance_type.split(".")[0],
                                  s.capacity_type, zone, s.nodepool, s.mig_layout, it.device_count,
                                  it.vcpu, it.memory_mib, start, end, end < cfg.n_steps))
            # Karpenter launches the replacement (maybe in another zone) 3-8 minutes later.
            start = end + cfg.steps(60 * float(rng.uniform(3, 8)))
            if s.capacity_type == "spot" and rng.random() < 0.3:
                zone = names.ZONES[int(rng.integers(0, 4))]
            cuts = [t for t in cuts if t > start]
    return Fleet(slots, nodes, *_devices(nodes, rng))


def _devices(nodes: list[Node], rng: np.random.Generator) -> tuple[Devices, list[np.ndarray]]:
    cat = catalog()
    cols: dict[str, list] = {k: [] for k in ("node", "gpu_index", "parent", "share", "mig_id", "mem_mib",
                                             "family", "uuid", "device_id", "mig_profile")}
    node_devices: list[np.ndarray] = []
    parent = 0
    for n in nodes:
        first = len(cols["node"])
        mem = cat[n.instance_type].device_memory_mib
        fam = FAMILIES.index(n.family)
        for g in range(n.gpu_count):
            uuid = names.gpu_uuid(rng)
            layout = MIG_LAYOUTS[n.mig_layout] if n.mig_layout else ((None, -1),)
            total_slices = sum(MIG_PROFILES[p][0] for p, _ in layout) if n.mig_layout else 1
            for profile, gi in layout:
                cols["node"].append(n.idx)
                cols["gpu_index"].append(g)
                cols["parent"].append(parent)
                cols["family"].append(fam)
                cols["uuid"].append(uuid)
                if profile is None:
                    cols["share"].append(1.0)
                    cols["mig_id"].append(-1)
                    cols["mem_mib"].append(mem)
                    cols["device_id"].append(uuid)
                    cols["mig_profile"].append(None)
                else:
                    slices, slice_mem = MIG_PROFILES[profile]
                    cols["share"].append(slices / total_slices)
                    cols["mig_id"].append(gi)
                    cols["mem_mib"].append(slice_mem)
                    cols["device_id"].append(f"{uuid}/{gi}")
                    cols["mig_profile"].append(profile)
            parent += 1
        node_devices.append(np.arange(first, len(cols["node"]), dtype=np.int32))
    devices = Devices(
        node=np.array(cols["node"], dtype=np.int32), gpu_index=np.array(cols["gpu_index"], dtype=np.int32),
        parent=np.array(cols["parent"], dtype=np.int32), share=np.array(cols["share"], dtype=np.float64),
        mig_id=np.array(cols["mig_id"], dtype=np.int32), mem_mib=np.array(cols["mem_mib"], dtype=np.int64),
        family=np.array(cols["family"], dtype=np.int8), uuid=cols["uuid"], device_id=cols["device_id"],
        mig_profile=cols["mig_profile"])
    return devices, node_devices


def node_labels(node: Node, model: GpuModel) -> dict[str, str]:
    """Labels as EKS + Karpenter + GPU feature discovery set them."""
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": node.instance_type,
        "beta.kubernetes.io/os": "linux",
        "failure-domain.beta.kubernetes.io/region": names.REGION,
        "failure-domain.beta.kubernetes.io/zone": node.zone,
        "karpenter.k8s.aws/instance-category": node.family[0],
        "karpenter.k8s.aws/instance-family": node.family,
        "karpenter.k8s.aws/instance-gpu-count": str(node.gpu_count),
        "karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia",
        "karpenter.k8s.aws/instance-gpu-name": model.gpu_name,
        "karpenter.sh/capacity-type": "spot" if node.capacity_type == "spot" else "on-demand",
        "karpenter.sh/initialized": "true",
        "karpenter.sh/nodepool": node.nodepool,
        "karpenter.sh/registered": "true",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": node.instance_type,
        "nvidia.com/gpu.count": str(node.gpu_count),
        "nvidia.com/gpu.memory": str(catalog()[node.instance_type].device_memory_mib),
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": model.gfd_product,
        "topology.k8s.aws/zone-id": "use1-az" + str(names.ZONES.index(node.zone) + 1),
        "topology.kubernetes.io/region": names.REGION,
        "topology.kubernetes.io/zone": node.zone,
    }
    if node.mig_layout:
        labels["nvidia.com/mig.capable"] = "true"
        labels["nvidia.com/mig.config"] = node.mig_layout
        labels["nvidia.com/mig.config.state"] = "success"
        labels["nvidia.com/mig.strategy"] = "mixed"
        counts: dict[str, int] = {}
        for profile, _ in MIG_LAYOUTS[node.mig_layout]:
            counts[profile] = counts.get(profile, 0) + node.gpu_count
        for profile, count in sorted(counts.items()):
            labels[f"nvidia.com/mig-{profile}.count"] = str(count)
            labels[f"nvidia.com/mig-{profile}.memory"] = str(MIG_PROFILES[profile][1])
            labels[f"nvidia.com/mig-{profile}.product"] = f"{model.gfd_product}-MIG-{profile}"
    return labels
