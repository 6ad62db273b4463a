"""The weekly report's numbers as plain dataclasses (no IO).

One `WeeklyReport` holds every number any output shows (HTML, Markdown, PDF, e-mail); the
renderers only format them. It is written as ``<name>.json`` beside the report so that each
figure can be checked against ``gpucost query`` on the same warehouse.

Units: ``*_usd`` US dollars, ``*_gpu_hours`` GPU-hours, ``*_pct`` percent 0..100, ``*share``
fractions 0..1, timestamps naive UTC. ``None`` means "not defined" (e.g. a change against a
week with no spend), never zero.

Definitions (all over gpu_usage rows with ts in the week's [Monday, next Monday) UTC):
- spend_usd = Σ cost_usd over every state; gpu_hours = Σ gpu_hours over every state.
- util_pct = Σ(util_pct x gpu_hours) / Σ gpu_hours over active and allocated_idle rows that
  have a util_pct (as the dashboard's headline).
- team = gpu_usage.team, or the namespace when it is null; unallocated GPUs have no team.
- per team and per job, as job_costs: cost_usd = active + allocated_idle cost, idle_cost_usd
  = its allocated_idle part, no_data_cost_usd = held with no telemetry (not in cost_usd);
  gpu_hours likewise = active + allocated_idle GPU-hours.
- a team report's spend is the cost of every row its jobs held (active + allocated_idle +
  no_data); unallocated capacity belongs to no team.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

STATES: tuple[str, ...] = ("active", "allocated_idle", "unallocated", "no_data")


@dataclass(frozen=True)
class StateCost:
    state: str
    cost_usd: float
    gpu_hours: float
    share: float | None  # of spend_usd; None when nothing was spent


@dataclass(frozen=True)
class Totals:
    gpu_usage_rows: int
    spend_usd: float
    gpu_hours: float
    util_pct: float | None
    states: tuple[StateCost, ...]  # always the four STATES, in order

    def state(self, name: str) -> StateCost:
        return next(s for s in self.states if s.state == name)

    @property
    def idle_usd(self) -> float:
        """Allocated-idle + unallocated USD: what was paid for GPUs that did no work."""
        return self.state("allocated_idle").cost_usd + self.state("unallocated").cost_usd

    @property
    def idle_share(self) -> float | None:
        return self.idle_usd / self.spend_usd if self.spend_usd else None


@dataclass(frozen=True)
class Change:
    """Week over week: (this - previous) / previous x 100; None when previous is 0."""

    previous_week: str
    previous_spend_usd: float
    previous_gpu_hours: float
    spend_pct: float | None
    gpu_hours_pct: float | None


@dataclass(frozen=True)
class TeamCost:
    team: str
    jobs: int
    gpu_hours: float           # active + allocated_idle
    idle_gpu_hours: float
    no_data_gpu_hours: float
    util_pct: float | None
    cost_usd: float            # active + allocated_idle
    idle_cost_usd: float
    no_data_cost_usd: float
    previous_cost_usd: float   # cost_usd in the previous week (0 when none)
    change_pct: float | None


@dataclass(frozen=True)
class JobCost:
    cluster: str
    namespace: str
    job: str
    team: str                  # job_costs' rule: min(team) of its pods, else the namespace
    first_ts: datetime         # first and last step start held in the week
    last_ts: datetime
    gpu_hours: float
    active_gpu_hours: float
    idle_gpu_hours: float
    no_data_gpu_hours: float
    util_pct: float | None
    cost_usd: float
    idle_cost_usd: float
    no_data_cost_usd: float


@dataclass(frozen=True)
class Stranded:
    """Unallocated GPUs that fragmentation marks stranded, valued at their node's mean
    unallocated GPU cost at that step (capped at the node's unallocated GPUs)."""

    cost_usd: float
    gpu_hours: float
    share_of_unallocated: float | None


@dataclass(frozen=True)
class Recommendation:
    id: str
    kind: str
    target: str
    action: str
    monthly_savings_usd: float | None
    confidence: str | None


@dataclass(frozen=True)
class PriceSource:
    price_source: str
    gpu_hours: float
    cost_usd: float
    share: float | None  # of spend_usd


@dataclass(frozen=True)
class Reconciliation:
    """The week's EC2 bill against the cost gpucost computed for the same instances.

    method 'reconciliation' (the mart exists and has rows for the week): sums over its
    instance-days in the week; "matched" = days with both a bill and a computed cost,
    "unbilled" = computed without a bill, "unseen" = billed GPU instance without telemetry;
    counts are distinct instances.
    method 'instance-id' (the simple fallback): line items with charge_period_start in the
    week whose resource_id equals the instance id ending a node's raw_nodes.provider_id,
    against asset_costs.cost_usd (whole node) of those nodes over the week's days.
    gap_usd = effective_usd - computed_usd over matched instances; billing_lines counts the
    raw line items whose charge period overlaps the week (0: the section is skipped).
    """

    method: str
    billing_lines: int           # raw_billing_line_items whose charge period overlaps the week
    instances_matched: int
    billed_usd: float            # FOCUS BilledCost of matched instances
    effective_usd: float         # FOCUS EffectiveCost (amortised) of matched instances
    computed_usd: float          # what gpucost computed for the same instances
    gap_usd: float
    gap_pct: float | None        # gap / computed x 100
    unbilled_nodes: int          # nodes gpucost costed without matching line items
    unbilled_computed_usd: float
    unseen_instances: int | None  # billed GPU instances never seen in telemetry (mart only)
    unseen_billed_usd: float | None
    explanations: dict[str, int] = field(default_factory=dict)  # instance-days per explanation (mart only)


@dataclass(frozen=True)
class DataQuality:
    no_data_cost_usd: float
    no_data_gpu_hours: float
    no_data_cost_share: float | None   # of spend
    no_data_hours_share: float | None  # of GPU-hours
    price_sources: tuple[PriceSource, ...]
    asset_gpu_cost_usd: float | None   # Σ asset_costs.gpu_cost_usd over the week (fleet only)
    identity_gap_usd: float | None     # spend_usd - asset_gpu_cost_usd
    reconciliation: Reconciliation | None


@dataclass(frozen=True)
class WeeklyReport:
    week: str                      # '2026-W46'
    week_label: str
    window_start: datetime         # Monday 00:00 UTC
    window_end: datetime           # next Monday 00:00 UTC (exclusive)
    scope: str                     # 'fleet' or 'team'
    team: str | None
    generated_at: datetime
    data_start: datetime | None    # the warehouse's gpu_usage window [start, end)
    data_end: datetime | None
    coverage_start: datetime | None  # first and last step start in the week (this scope)
    coverage_end: datetime | None    # exclusive: last step start + step
    complete: bool                 # the warehouse's data covers the whole week
    has_data: bool                 # this scope has gpu_usage rows in the week
    clusters: tuple[str, ...]
    totals: Totals
    change: Change
    stranded: Stranded | None      # None: no fragmentation table (or a team report)
    teams: tuple[TeamCost, ...]    # every team with usage in the week, most expensive first
    jobs: int                      # jobs with usage in the week
    wasteful_jobs: tuple[JobCost, ...]  # top by idle_cost_usd (> 0)
    recommendations: tuple[Recommendation, ...] | None  # None: no recommendations table
    recommendations_count: int
    recommendations_savings_usd: float | None  # Σ monthly_savings_usd over all of them
    data_quality: DataQuality
    notes: tuple[str, ...]         # what was skipped or approximated, and why

    @property
    def slug(self) -> str:
        """File name stem: 'gpucost-2026-W46' or 'gpucost-2026-W46-team-ml'."""
        return f"gpucost-{self.week}" + (f"-team-{team_slug(self.team)}" if self.team else "")

    @property
    def title(self) -> str:
        scope = f"team {self.team}" if self.team else "fleet"
        return f"GPU cost report {self.week} ({scope})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_json_default) + "\n"


def team_slug(team: str) -> str:
    """A file-name-safe form of a team name: 'ML Research/EU' -> 'ml-research-eu'."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", team.lower()).strip("-.")
    return slug or "unnamed"


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
