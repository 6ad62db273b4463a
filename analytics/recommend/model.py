"""The records of the recommendation framework.

A rule returns ``Finding`` records: what to change, the evidence, and a *claim* on the cost it
would save (``DeviceClaim``, ``FractionClaim`` or ``PoolClaim``). The runner settles the claims
in precedence order against one ledger, so that no GPU-hour's cost is saved twice, and turns
each surviving finding into a ``Recommendation`` (a row of the ``recommendations`` table).

Units: USD, GPU-hours, windows half-open ``[start, end)`` in naive UTC.
``monthly_savings_usd`` = saving in the window x (720 h / window hours): a 30-day month at
the window's rate.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

CONFIDENCE = ("high", "medium", "low")
HOURS_PER_MONTH = 720.0  # a 30-day month

JobKey = tuple[str, str, str]
"""(cluster, namespace, job) of gpu_usage / usage_hourly."""


@dataclass(frozen=True)
class Window:
    """Half-open analysis window [start, end), naive UTC, whole hours."""

    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    def monthly(self, usd_in_window: float) -> float:
        """USD in the window -> USD per 30-day month at the same rate."""
        return usd_in_window * HOURS_PER_MONTH / self.hours if self.hours > 0 else 0.0


@dataclass(frozen=True)
class DeviceClaim:
    """Save up to ``usd`` / ``gpu_hours`` of what ``holder`` paid on each listed device.

    devices: device_key -> (usd, gpu_hours) in the window. holder: the job, or None for
    capacity nobody holds (unallocated). Settled as min(asked, what is left on the device).
    """

    holder: JobKey | None
    devices: Mapping[int, tuple[float, float]]


@dataclass(frozen=True)
class FractionClaim:
    """Save ``fraction`` (0..1; or per device_key) of what is left of ``holder``'s cost on
    ``devices`` (None: all its devices). frees_gpu_hours: True when the change frees GPU time (sharing), False when
    it only changes the price of the same GPU-hours (spot, a cheaper instance type).
    group: findings of one group are alternatives; a job keeps only the first that settles."""

    holder: JobKey
    fraction: float | Mapping[int, float]
    devices: frozenset[int] | None = None
    frees_gpu_hours: bool = False
    group: str | None = None


@dataclass(frozen=True)
class PoolClaim:
    """A commitment discount on the on-demand GPU cost of some instance types.

    pool_usd: the on-demand GPU cost of those types in the window (every state);
    committed_usd: the part of it the commitment would cover (the steady baseline);
    discount: fraction saved on the covered cost. Settled as discount x min(committed_usd x
    left / pool_usd, left), where left = pool_usd minus what earlier findings already saved
    on those devices: a GPU-hour another rule removes is not committed to.
    """

    instance_types: frozenset[str]
    pool_usd: float
    committed_usd: float
    discount: float


Claim = DeviceClaim | FractionClaim | PoolClaim


@dataclass(frozen=True)
class Finding:
    """What a rule returns: a proposed recommendation and its claim on the cost it saves."""

    kind: str
    target: str
    action: str
    confidence: str
    claim: Claim
    evidence: Mapping[str, Any]
    cluster: str | None = None
    namespace: str | None = None
    team: str | None = None
    patch: str | None = None

    def __post_init__(self) -> None:
        if self.confidence not in CONFIDENCE:
            raise ValueError(f"confidence must be one of {CONFIDENCE}, got {self.confidence!r}")


@dataclass(frozen=True)
class Recommendation:
    """One row of the ``recommendations`` table (sql/migrations/0005), same names and order."""

    id: str
    kind: str
    cluster: str | None
    namespace: str | None
    target: str
    team: str | None
    evidence: dict[str, Any] = field(hash=False)
    action: str = ""
    monthly_savings_usd: float = 0.0
    gpu_hours_saved: float = 0.0
    confidence: str = "medium"
    patch: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None

    def row(self) -> tuple:
        """The table row; evidence as JSON text with sorted keys."""
        return (self.id, self.kind, self.cluster, self.namespace, self.target, self.team,
                evidence_json(self.evidence), self.action, self.monthly_savings_usd,
                self.gpu_hours_saved, self.confidence, self.patch, self.window_start, self.window_end)


COLUMNS = ("id", "kind", "cluster", "namespace", "target", "team", "evidence", "action",
           "monthly_savings_usd", "gpu_hours_saved", "confidence", "patch", "window_start", "window_end")


def recommendation_id(kind: str, target: str, window: Window, cluster: str | None = None) -> str:
    """Stable id: the first 16 hex digits of sha256(kind, cluster, target, window start, end)."""
    text = "\x1f".join((kind, cluster or "", target, window.start.isoformat(), window.end.isoformat()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


def evidence_json(evidence: Mapping[str, Any]) -> str:
    """Evidence as compact JSON with sorted keys and floats rounded to 6 decimals."""
    return json.dumps(_clean(evidence), sort_keys=True, separators=(",", ":"))
