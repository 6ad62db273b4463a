"""Run the recommendation rules for a window and write the ``recommendations`` table.

Rules are the modules of ``gpucost.analytics.recommend.rules``: each defines ``KIND``,
``PRECEDENCE`` (int), a frozen dataclass ``Params`` and ``find(con, window, params) ->
list[Finding]``. A new rule is one more module; no registry to edit.

Precedence (lower runs first, and its savings are booked first):
  10 idle-reclaim       give back GPUs held while idle for hours
  20 right-size-count   fewer GPUs per pod
  30 share              a MIG slice or a time-sliced GPU (alternative to smaller-gpu)
  40 smaller-gpu        a cheaper instance type
  50 spot               spot capacity for restartable workloads
  90 commit             Savings Plan / RI for the on-demand baseline that is left
(the planned `repack` and `topology` rules slot in by their own PRECEDENCE).

No double counting: every finding's claim is settled against one ledger (ledger.py) of the
window's cost per job and device (and unallocated capacity), in precedence order, then by
cluster and target. A saving takes only what earlier findings left: idle-reclaim and
right-size savings cannot exceed the job's idle / device cost; share, smaller-gpu and spot
apply their fraction to what remains; commit covers only on-demand cost nobody removed.
Findings whose settled saving is below ``min_monthly_savings_usd`` are dropped unbooked.

Determinism: same warehouse and window -> the same rows; ids are hashes of kind, cluster,
target and window; rows are ordered by precedence, saving (descending) and target.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

import duckdb

from gpucost.analytics.recommend import facts
from gpucost.analytics.recommend.ledger import Ledger
from gpucost.analytics.recommend.model import COLUMNS, Finding, Recommendation, Window, recommendation_id

DEFAULT_WINDOW_DAYS = 14


@dataclass(frozen=True)
class Rule:
    kind: str
    precedence: int
    params: type
    find: Callable[[duckdb.DuckDBPyConnection, Window, Any], list[Finding]]
    doc: str


def load_rules() -> tuple[Rule, ...]:
    """The rule modules, in precedence order."""
    package = importlib.import_module("gpucost.analytics.recommend.rules")
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{package.__name__}.{info.name}")
        found.append(Rule(mod.KIND, int(mod.PRECEDENCE), mod.Params, mod.find, (mod.__doc__ or "").strip()))
    return tuple(sorted(found, key=lambda r: (r.precedence, r.kind)))


def kinds() -> tuple[str, ...]:
    return tuple(r.kind for r in load_rules())


def data_window(con: duckdb.DuckDBPyConnection, days: float = DEFAULT_WINDOW_DAYS) -> Window | None:
    """The last `days` of built data (usage_hourly), whole hours; None when nothing is built."""
    first, last = con.execute("select min(hour), max(hour) from usage_hourly").fetchone()
    if last is None:
        return None
    end = last + timedelta(hours=1)
    return Window(max(first, end - timedelta(days=days)), end)


def hour_window(start: datetime, end: datetime) -> Window:
    """[start, end) widened to whole hours."""
    s = start.replace(minute=0, second=0, microsecond=0)
    e = end.replace(minute=0, second=0, microsecond=0)
    if e < end:
        e += timedelta(hours=1)
    return Window(s, e)


def ledger_for(con: duckdb.DuckDBPyConnection, window: Window) -> Ledger:
    """The window's cost per job and device (active + allocated_idle) and unallocated cost."""
    ledger = Ledger()
    for d in facts.job_devices(con, window):
        ledger.add(d.holder, d.device_key, d.cost_usd, d.gpu_hours, d.instance_type, d.capacity_type)
    for u in facts.unallocated_devices(con, window):
        ledger.add(None, u["device_key"], u["cost_usd"], u["gpu_hours"], u["instance_type"], u["capacity_type"])
    return ledger


def recommend(con: duckdb.DuckDBPyConnection, window: Window,
              params: Mapping[str, Any] | None = None,
              min_monthly_savings_usd: float = 0.01,
              only: Sequence[str] | None = None,
              progress: Callable[[str, int], None] | None = None) -> list[Recommendation]:
    """Run every rule on the window and settle their claims; returns the rows, ordered.

    params: rule kind -> that rule's Params (default: its defaults). only: run just these kinds
    (their precedence is kept; what the others would have claimed is then not removed)."""
    params = dict(params or {})
    ledger = ledger_for(con, window)
    out: list[tuple[int, Recommendation]] = []
    for rule in load_rules():
        if only is not None and rule.kind not in only:
            continue
        findings = rule.find(con, window, params.get(rule.kind, rule.params()))
        kept = 0
        for f in sorted(findings, key=lambda f: (f.cluster or "", f.target)):
            settled = ledger.quote(f.claim)
            monthly = window.monthly(settled.usd)
            if monthly < min_monthly_savings_usd:
                continue
            ledger.book(f.claim, settled)
            kept += 1
            evidence = dict(f.evidence) | {"saving_in_window_usd": settled.usd, "window_hours": window.hours}
            out.append((rule.precedence, Recommendation(
                id=recommendation_id(f.kind, f.target, window, f.cluster), kind=f.kind, cluster=f.cluster,
                namespace=f.namespace, target=f.target, team=f.team, evidence=evidence, action=f.action,
                monthly_savings_usd=round(monthly, 6), gpu_hours_saved=round(settled.gpu_hours, 6),
                confidence=f.confidence, patch=f.patch, window_start=window.start, window_end=window.end)))
        if progress:
            progress(rule.kind, kept)
    out.sort(key=lambda pr: (pr[0], -pr[1].monthly_savings_usd, pr[1].cluster or "", pr[1].target))
    recs = [r for _, r in out]
    ids = [r.id for r in recs]
    if len(ids) != len(set(ids)):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"two recommendations share the id {dup}: rule targets must be unique per kind")
    return recs


def write(con: duckdb.DuckDBPyConnection, recs: list[Recommendation]) -> None:
    """Replace the whole recommendations table in one transaction."""
    con.execute("begin transaction")
    try:
        con.execute("delete from recommendations")
        if recs:
            con.executemany(f"insert into recommendations ({', '.join(COLUMNS)}) "
                            f"values ({', '.join('?' * len(COLUMNS))})", [r.row() for r in recs])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
