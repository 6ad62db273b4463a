"""commit: cover the steady on-demand GPU baseline of an instance family with a Savings Plan/RI.

Data: usage_hourly, on-demand devices (every state: a commitment pays for the instance
whether its GPUs work or not), grouped by catalog instance family (p5, p4d, g5, ...).
Per family: GPUs(h) = on-demand GPU-hours in hour h (0 for hours of the window without any);
baseline b = the ``baseline_percentile`` of GPUs(h) over the window's hours; rate = the
family's on-demand GPU cost / GPU-hours (USD per GPU-hour). Committed cost (window) =
min(b x window hours x rate, the family's on-demand GPU cost).
Saving (window) = ``discount_pct``/100 x committed cost, reduced by the runner to the part of
the on-demand cost earlier rules did not already save (see ledger.PoolClaim).
Break-even: a no-upfront commitment of b GPUs saves money while on average at least
(1 - discount) x b GPUs of the family run on demand; the evidence gives that and the share of
hours the baseline was met.

Discount: an assumption, ``discount_pct`` = 25 % by default — a conservative figure for a
1-year, no-upfront Compute Savings Plan on GPU instances (AWS lists per-type rates on its
Savings Plans pricing pages; the public data in shared/data/prices has no commitment prices).
Replace it with your quote. Savings are on the GPUs' share of the instance price, like every
other rule. Confidence: medium for windows of at least ``min_high_confidence_days``, else low.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from gpucost.analytics.recommend.facts import percentile
from gpucost.analytics.recommend.model import Finding, PoolClaim, Window
from gpucost.ingest.catalog import catalog

KIND = "commit"
PRECEDENCE = 90

HOURLY_SQL = """
select instance_type, hour, sum(gpu_hours) as gpu_hours, sum(cost_usd) as cost_usd
from usage_hourly
where hour >= $start and hour < $end and capacity_type = 'on_demand' and instance_type is not null
group by instance_type, hour
order by instance_type, hour
"""


@dataclass(frozen=True)
class Params:
    """discount_pct: commitment discount on covered on-demand cost (assumption, default 25 %).
    baseline_percentile: percentile of hourly on-demand GPUs committed (default 10).
    min_baseline_gpus: smallest commitment worth a record, GPUs (default 1).
    min_window_hours: shortest window to judge a baseline from (default 48 h).
    min_high_confidence_days: window that makes the record medium rather than low (default 14)."""

    discount_pct: float = 25.0
    baseline_percentile: float = 10.0
    min_baseline_gpus: float = 1.0
    min_window_hours: float = 48.0
    min_high_confidence_days: float = 14.0


def find(con: duckdb.DuckDBPyConnection, window: Window, params: Params) -> list[Finding]:
    if window.hours < params.min_window_hours:
        return []
    rows = con.execute(HOURLY_SQL, {"start": window.start, "end": window.end}).fetchall()
    families: dict[str, dict] = {}
    for itype, hour, gpu_hours, cost in rows:
        fam = catalog()[itype].family if itype in catalog() else itype.split(".")[0]
        f = families.setdefault(fam, {"types": set(), "hours": {}, "gpu_hours": 0.0, "cost": 0.0})
        f["types"].add(itype)
        f["hours"][hour] = f["hours"].get(hour, 0.0) + gpu_hours
        f["gpu_hours"] += gpu_hours
        f["cost"] += cost
    n_hours = int(round(window.hours))
    out = []
    for fam, f in sorted(families.items()):
        series = list(f["hours"].values()) + [0.0] * max(0, n_hours - len(f["hours"]))
        baseline = percentile(series, params.baseline_percentile) or 0.0
        if baseline < params.min_baseline_gpus or f["gpu_hours"] <= 0:
            continue
        rate = f["cost"] / f["gpu_hours"]
        committed = min(baseline * window.hours * rate, f["cost"])
        d = params.discount_pct / 100.0
        met = sum(1 for v in series if v >= baseline - 1e-9) / len(series)
        action = (f"Buy a 1-year Savings Plan for {baseline:.1f} {fam} GPUs' worth of on-demand capacity "
                  f"(~${baseline * rate * (1 - d):,.2f}/h for the GPU share): at least that many ran on demand "
                  f"in {100 * met:.0f} % of the window's hours.")
        out.append(Finding(
            kind=KIND, target=f"instance-family/{fam}", action=action,
            confidence="medium" if window.hours >= 24 * params.min_high_confidence_days else "low",
            claim=PoolClaim(frozenset(f["types"]), f["cost"], committed, d),
            evidence={"instance_family": fam, "instance_types": sorted(f["types"]),
                      "baseline_gpus": baseline, "baseline_percentile": params.baseline_percentile,
                      "hours_baseline_met_pct": 100 * met, "on_demand_gpu_hours": f["gpu_hours"],
                      "on_demand_gpu_cost_usd": f["cost"], "usd_per_gpu_hour": rate,
                      "committed_cost_usd": committed, "discount_pct": params.discount_pct,
                      "discount_source": "assumption (1-year no-upfront Compute Savings Plan)",
                      "break_even_utilisation_pct": 100 * (1 - d),
                      "break_even_gpus": baseline * (1 - d)}))
    return out
