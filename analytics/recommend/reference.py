"""Reference facts the rules use: MIG profiles, GPU throughput, Spot Advisor, instance prices.

Everything is read-only and built on call (no module-level mutable state).

MIG profiles (compute slices of 7, memory MiB, max instances per GPU) — NVIDIA MIG User
Guide, "Supported MIG Profiles" (docs.nvidia.com/datacenter/tesla/mig-user-guide), for
A100-SXM4-40GB, A100-SXM4-80GB, H100 80GB and H200 141GB. Memory: measured MiB where a real
listing was available (A100 40GB: `nvidia-smi mig -lgip`; H100 80GB HBM3: GPU feature
discovery labels `nvidia.com/mig-<profile>.memory`, shared/data/k8s/gfd), otherwise the
profile's nominal GB as 10^9 bytes (marked `nominal`), which is at most the real size, so a
fit is never optimistic.

GPU throughput: dense FP16/BF16 Tensor Core TFLOPS from NVIDIA datasheets (H100/H200 SXM 989,
A100 312, L40S 362, L4 121, A10 125 (AWS's A10G is an A10 variant; NVIDIA publishes no
separate figure), T4 65, V100 125, B200 2250). Used only to scale utilisation between models.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

from gpucost.ingest.catalog import InstanceType, catalog

GIB = 1024 ** 3
MIB = 1024 ** 2


@dataclass(frozen=True)
class MigProfile:
    name: str            # e.g. '1g.10gb' (resource nvidia.com/mig-1g.10gb)
    slices: int          # compute slices of 7
    memory_mib: int
    max_instances: int
    nominal: bool        # memory from the profile name, not a measured listing

    @property
    def fraction(self) -> float:
        """Share of the GPU's cost the slice carries (by compute slices, as gpu_usage does)."""
        return self.slices / 7.0


def _nominal(gb: float) -> int:
    return int(gb * 1e9 // MIB)


def mig_profiles(model_key: str) -> tuple[MigProfile, ...]:
    """MIG profiles of a GPU model key ('a100-40gb', 'a100-80gb', 'h100-80gb', 'h200-141gb'),
    smallest first; () for a model without MIG."""
    tables = {
        "a100-40gb": (("1g.5gb", 1, 4864, 7, False), ("1g.10gb", 1, _nominal(10), 4, True),
                      ("2g.10gb", 2, 9984, 3, False), ("3g.20gb", 3, 20096, 2, False),
                      ("4g.20gb", 4, 20096, 1, False), ("7g.40gb", 7, 40448, 1, False)),
        "a100-80gb": (("1g.10gb", 1, _nominal(10), 7, True), ("1g.20gb", 1, _nominal(20), 4, True),
                      ("2g.20gb", 2, _nominal(20), 3, True), ("3g.40gb", 3, _nominal(40), 2, True),
                      ("4g.40gb", 4, _nominal(40), 1, True), ("7g.80gb", 7, _nominal(80), 1, True)),
        "h100-80gb": (("1g.10gb", 1, 9984, 7, False), ("1g.20gb", 1, _nominal(20), 4, True),
                      ("2g.20gb", 2, 20096, 3, False), ("3g.40gb", 3, 40320, 2, False),
                      ("4g.40gb", 4, 40320, 1, False), ("7g.80gb", 7, _nominal(80), 1, True)),
        "h200-141gb": (("1g.18gb", 1, _nominal(18), 7, True), ("1g.35gb", 1, _nominal(35), 4, True),
                       ("2g.35gb", 2, _nominal(35), 3, True), ("3g.71gb", 3, _nominal(71), 2, True),
                       ("4g.71gb", 4, _nominal(71), 1, True), ("7g.141gb", 7, _nominal(141), 1, True)),
    }
    return tuple(MigProfile(*row) for row in tables.get(model_key, ()))


def mig_model_key(gpu_model: str | None, mem_total_bytes: int | None = None) -> str | None:
    """The MIG table of a DCGM modelName (e.g. 'NVIDIA A100-SXM4-40GB'), else None."""
    name = (gpu_model or "").upper()
    if "H200" in name:
        return "h200-141gb"
    if "H100" in name:
        return "h100-80gb"
    if "A100" in name:
        if "80GB" in name:
            return "a100-80gb"
        if "40GB" in name:
            return "a100-40gb"
        if mem_total_bytes:
            return "a100-80gb" if mem_total_bytes > 48 * GIB else "a100-40gb"
    return None


def profile_by_name(model_key: str, name: str) -> MigProfile | None:
    return next((p for p in mig_profiles(model_key) if p.name == name), None)


def dense_tflops(gpu_model: str | None) -> float | None:
    """Dense FP16 Tensor TFLOPS of a GPU model name, None when unknown."""
    name = (gpu_model or "").upper()
    for key, tflops in (("H200", 989.0), ("H100", 989.0), ("A100", 312.0), ("L40S", 362.0),
                        ("L4", 121.0), ("A10", 125.0), ("T4", 65.0), ("V100", 125.0), ("B200", 2250.0)):
        if key in name:
            return tflops
    return None


@dataclass(frozen=True)
class SpotAdvice:
    instance_type: str
    savings_pct: float          # spot saving vs on-demand, %
    interruption_index: int     # 0 '<5%', 1 '5-10%', 2 '10-15%', 3 '15-20%', 4 '>20%' per month
    interruption_frequency: str


def spot_advisor(region: str = "us-east-1") -> dict[str, SpotAdvice]:
    """instance type -> Spot Advisor facts (ingest/data/aws_spot_advisor_gpu.csv, us-east-1)."""
    text = resources.files("gpucost.ingest").joinpath("data", "aws_spot_advisor_gpu.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {r["instance_type"]: SpotAdvice(r["instance_type"], float(r["savings_vs_ondemand_pct"]),
                                           int(r["interruption_range_index"]), r["interruption_frequency"])
            for r in rows if r["region"] == region}


def nvidia_instance_types() -> dict[str, InstanceType]:
    """Catalog instance types with NVIDIA GPUs and a list price."""
    return {k: v for k, v in catalog().items()
            if v.accelerator == "gpu" and v.usd_per_hour and "AMD" not in v.device_model.upper()}


def interruption_confidence(index: int | None) -> str:
    """Spot Advisor bucket -> confidence of a spot saving: <10 %/month high, 10-20 % medium,
    >20 % (or unknown) low."""
    if index is None:
        return "low"
    return "high" if index <= 1 else ("medium" if index <= 3 else "low")
