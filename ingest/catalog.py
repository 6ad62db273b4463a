"""The packaged AWS GPU/accelerator instance catalog (specs and us-east-1 list prices).

`data/aws_gpu_instances.csv` names its sources in its header. Prices there are the
us-east-1 on-demand Linux list price in USD per instance-hour as of `price_as_of`;
`gpucost collect prices` (AWS Pricing API) refreshes them per region into raw_prices.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pyarrow as pa


@dataclass(frozen=True)
class InstanceType:
    instance_type: str
    family: str
    accelerator: str          # 'gpu' for NVIDIA GPUs, else the accelerator vendor
    device_model: str         # NVIDIA modelName as dcgm-exporter reports it, where known
    device_count: int
    device_memory_mib: int | None
    nvswitch: bool            # all GPUs in one NVLink/NVSwitch domain
    vcpu: int
    memory_mib: int
    usd_per_hour: float | None
    price_as_of: str | None


def _rows() -> list[dict[str, str]]:
    text = resources.files("gpucost.ingest").joinpath("data", "aws_gpu_instances.csv").read_text()
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


@cache
def catalog() -> dict[str, InstanceType]:
    """instance type -> InstanceType, from the packaged CSV (read once per process)."""
    out = {}
    for r in _rows():
        out[r["instance_type"]] = InstanceType(
            instance_type=r["instance_type"], family=r["family"], accelerator=r["accelerator"],
            device_model=r["device_model"], device_count=int(r["device_count"]),
            device_memory_mib=int(r["device_memory_mib"]) if r["device_memory_mib"] else None,
            nvswitch=r["nvswitch"] == "1", vcpu=int(r["vcpu"]), memory_mib=int(r["memory_mib"]),
            usd_per_hour=float(r["usd_per_hour"]) if r["usd_per_hour"] else None,
            price_as_of=r["price_as_of"] or None)
    return out


def catalog_table() -> pa.Table:
    """The catalog as an Arrow table, registered by the build as `ref_instance_types`."""
    items = sorted(catalog().values(), key=lambda it: it.instance_type)
    return pa.table({
        "instance_type": [i.instance_type for i in items],
        "family": [i.family for i in items],
        "device_model": [i.device_model for i in items],
        "device_count": pa.array([i.device_count for i in items], pa.int32()),
        "device_memory_mib": pa.array([i.device_memory_mib for i in items], pa.int64()),
        "nvswitch": [i.nvswitch for i in items],
        "vcpu": pa.array([i.vcpu for i in items], pa.int32()),
        "memory_mib": pa.array([i.memory_mib for i in items], pa.int64()),
        "usd_per_hour": pa.array([i.usd_per_hour for i in items], pa.float64()),
        "price_as_of": [i.price_as_of for i in items],
    })
