"""One typed settings object, built once by the CLI and passed down.

Sources, later ones winning: built-in defaults < `gpucost.toml` (``--config`` or
``$GPUCOST_CONFIG``, else ``./gpucost.toml`` when present) < ``GPUCOST_*`` environment
variables < command-line flags. Nothing here is read at import time.

File layout (every key optional)::

    db = "gpucost.duckdb"
    cluster = "prod-us-east-1"
    step_seconds = 60
    idle_threshold_pct = 5.0
    job_label = "gpucost.io/job"
    team_label = "team"
    region = "us-east-1"

    [cost]
    gpu_share = "resource-rates"        # or a fixed fraction such as 0.85
    cpu_usd_per_vcpu_hour = 0.031611
    ram_usd_per_gib_hour = 0.004237

    [prices.overrides]                  # USD per instance-hour
    "p5.48xlarge" = 40.0

    [duckdb]
    memory_limit = "3GB"
    threads = 2

Environment: ``GPUCOST_DB``, ``GPUCOST_CLUSTER``, ``GPUCOST_STEP_SECONDS``,
``GPUCOST_IDLE_THRESHOLD_PCT``, ``GPUCOST_JOB_LABEL``, ``GPUCOST_TEAM_LABEL``,
``GPUCOST_REGION``, ``GPUCOST_GPU_SHARE``, ``GPUCOST_DUCKDB_MEMORY_LIMIT``,
``GPUCOST_DUCKDB_THREADS``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from gpucost.errors import GpucostError

# Why 5 %: an idle GPU reads exactly 0 most of the time (two thirds of the GenAI trace's
# samples are 0), but health probes, monitoring agents and a resident CUDA context give
# short blips of 1-3 % on otherwise idle devices; 5 % keeps those idle while a real
# workload averaged over a 60 s step is above it (AcmeTrace: training GPUs sit at >= 20 %).
DEFAULT_IDLE_THRESHOLD_PCT = 5.0

# OpenCost's default list rates for AWS (its default pricing config), used to price the
# CPU and RAM part of a GPU node so that the remainder is the GPUs' share.
DEFAULT_CPU_USD_PER_VCPU_HOUR = 0.031611
DEFAULT_RAM_USD_PER_GIB_HOUR = 0.004237


@dataclass(frozen=True)
class CostSplit:
    """How a GPU node's price is split between its GPUs and its CPU/RAM.

    ``gpu_share = "resource-rates"`` (default): GPU share = 1 - (vCPU x cpu rate + GiB x
    RAM rate) / node price per hour, floored at 0 — the GPUs carry what CPU and RAM of a
    general-purpose instance would not cost. A number in [0, 1] fixes the share instead
    (1.0 puts the whole node on its GPUs).
    """

    gpu_share: str | float = "resource-rates"
    cpu_usd_per_vcpu_hour: float = DEFAULT_CPU_USD_PER_VCPU_HOUR
    ram_usd_per_gib_hour: float = DEFAULT_RAM_USD_PER_GIB_HOUR

    @property
    def fixed_share(self) -> float | None:
        return None if self.gpu_share == "resource-rates" else float(self.gpu_share)


@dataclass(frozen=True)
class Settings:
    db: Path = Path("gpucost.duckdb")
    cluster: str = "default"
    step_seconds: int = 60
    idle_threshold_pct: float = DEFAULT_IDLE_THRESHOLD_PCT
    job_label: str = ""   # pod label naming the job; empty: the pod's top owner
    team_label: str = "team"  # pod label naming the team; absent: the namespace
    region: str = "us-east-1"  # region of nodes that carry no region label
    cost: CostSplit = field(default_factory=CostSplit)
    price_overrides: Mapping[str, float] = field(default_factory=dict)
    duckdb_memory_limit: str = "3GB"
    duckdb_threads: int = 0  # 0: DuckDB's default (all cores)

    def with_overrides(self, **changes: Any) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_ENV = {
    "GPUCOST_DB": ("db", Path),
    "GPUCOST_CLUSTER": ("cluster", str),
    "GPUCOST_STEP_SECONDS": ("step_seconds", int),
    "GPUCOST_IDLE_THRESHOLD_PCT": ("idle_threshold_pct", float),
    "GPUCOST_JOB_LABEL": ("job_label", str),
    "GPUCOST_TEAM_LABEL": ("team_label", str),
    "GPUCOST_REGION": ("region", str),
    "GPUCOST_DUCKDB_MEMORY_LIMIT": ("duckdb_memory_limit", str),
    "GPUCOST_DUCKDB_THREADS": ("duckdb_threads", int),
}


def _parse_share(value: Any) -> str | float:
    if value == "resource-rates":
        return value
    try:
        share = float(value)
    except (TypeError, ValueError):
        raise GpucostError(f"cost.gpu_share must be 'resource-rates' or a number in [0, 1], got {value!r}")
    if not 0.0 <= share <= 1.0:
        raise GpucostError(f"cost.gpu_share must be in [0, 1], got {share}")
    return share


def _from_mapping(data: Mapping[str, Any], origin: str) -> dict[str, Any]:
    known = {"db", "cluster", "step_seconds", "idle_threshold_pct", "job_label", "team_label",
             "region", "cost", "prices", "duckdb"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise GpucostError(f"{origin}: unknown setting(s) {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for key in ("cluster", "job_label", "team_label", "region"):
        if key in data:
            out[key] = str(data[key])
    if "db" in data:
        out["db"] = Path(data["db"])
    if "step_seconds" in data:
        out["step_seconds"] = int(data["step_seconds"])
    if "idle_threshold_pct" in data:
        out["idle_threshold_pct"] = float(data["idle_threshold_pct"])
    cost = data.get("cost", {})
    if cost:
        out["cost"] = CostSplit(
            gpu_share=_parse_share(cost.get("gpu_share", "resource-rates")),
            cpu_usd_per_vcpu_hour=float(cost.get("cpu_usd_per_vcpu_hour", DEFAULT_CPU_USD_PER_VCPU_HOUR)),
            ram_usd_per_gib_hour=float(cost.get("ram_usd_per_gib_hour", DEFAULT_RAM_USD_PER_GIB_HOUR)),
        )
    overrides = data.get("prices", {}).get("overrides", {})
    if overrides:
        out["price_overrides"] = {str(k): float(v) for k, v in overrides.items()}
    duck = data.get("duckdb", {})
    if "memory_limit" in duck:
        out["duckdb_memory_limit"] = str(duck["memory_limit"])
    if "threads" in duck:
        out["duckdb_threads"] = int(duck["threads"])
    return out


def load_settings(config: Path | None = None, env: Mapping[str, str] | None = None,
                  **cli: Any) -> Settings:
    """Build the settings from defaults, the TOML file, the environment and CLI values.

    ``cli`` values that are None are ignored, so argparse namespaces can be passed as is.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = config or (Path(env["GPUCOST_CONFIG"]) if env.get("GPUCOST_CONFIG") else None)
    if path is None and Path("gpucost.toml").is_file():
        path = Path("gpucost.toml")
    if path is not None:
        if not path.is_file():
            raise GpucostError(f"config file not found: {path}")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise GpucostError(f"{path}: invalid TOML: {exc}") from None
        values.update(_from_mapping(data, str(path)))
    for name, (attr, kind) in _ENV.items():
        if env.get(name):
            try:
                values[attr] = kind(env[name])
            except ValueError:
                raise GpucostError(f"{name}={env[name]!r} is not a valid {kind.__name__}") from None
    if env.get("GPUCOST_GPU_SHARE"):
        base = values.get("cost", CostSplit())
        values["cost"] = replace(base, gpu_share=_parse_share(env["GPUCOST_GPU_SHARE"]))
    settings = Settings(**values).with_overrides(**cli)
    if settings.step_seconds <= 0 or 86400 % settings.step_seconds:
        raise GpucostError(f"step_seconds must divide a day, got {settings.step_seconds}")
    if not 0.0 <= settings.idle_threshold_pct <= 100.0:
        raise GpucostError(f"idle_threshold_pct must be in [0, 100], got {settings.idle_threshold_pct}")
    return settings
