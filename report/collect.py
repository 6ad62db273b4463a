"""Assemble `WeeklyReport` objects from an open, read-only warehouse connection.

Week choice (``choose_week``): an explicit week must overlap the warehouse's gpu_usage window
[first step, last step + step); otherwise it is "outside the data" (GpucostError, exit 1). A
week inside the window without rows (a gap), or any week of an empty warehouse, gives a report
that says there was no usage. Default: the last ISO week the data covers completely.

Scopes: ``None`` is the fleet; a team name keeps rows whose coalesce(team, namespace) is it.
One scan of gpu_usage (``queries.load_cells``) serves every scope of a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pandas as pd

from gpucost.dashboard.queries import data_window
from gpucost.errors import GpucostError
from gpucost.report import quality, queries
from gpucost.report.model import (Change, DataQuality, Recommendation, WeeklyReport)
from gpucost.report.week import IsoWeek, last_complete_week

TOP_JOBS = 10
TOP_RECOMMENDATIONS = 10


@dataclass(frozen=True)
class DataWindow:
    start: datetime | None  # first step start in gpu_usage
    end: datetime | None    # last step start + one step (exclusive)

    def text(self) -> str:
        if self.start is None:
            return "no GPU usage"
        return f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class ReportData:
    """A report plus the frames its charts and CSVs need beyond the headline numbers."""

    report: WeeklyReport
    by_day: pd.DataFrame                           # bucket_start (UTC day), state, cost_usd, gpu_hours
    jobs: pd.DataFrame                             # every job of the scope in the week (JOBS_SQL columns)
    recommendations: list[Recommendation] | None   # all of the scope's, None: no table


def _ts(value: object) -> datetime | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def warehouse_window(con: duckdb.DuckDBPyConnection, step_seconds: int) -> DataWindow:
    row = data_window(con).iloc[0]
    first, last = _ts(row["first_ts"]), _ts(row["last_ts"])
    return DataWindow(first, None if last is None else last + timedelta(seconds=step_seconds))


def choose_week(window: DataWindow, requested: IsoWeek | None) -> IsoWeek:
    """The requested week, checked against the data; else the last complete one."""
    if requested is not None:
        if window.start is not None and (requested.end <= window.start or requested.start >= window.end):
            raise GpucostError(f"week {requested} ({requested.start:%Y-%m-%d} to {requested.end:%Y-%m-%d}) "
                               f"is outside the warehouse's data ({window.text()})")
        return requested
    if window.start is None:
        raise GpucostError("the warehouse has no GPU usage yet (run `gpucost build`, or pass --week)")
    week = last_complete_week(window.start, window.end)
    if week is None:
        raise GpucostError(f"no complete ISO week in the warehouse's data ({window.text()}); pass --week")
    return week


def resolve_teams(con: duckdb.DuckDBPyConnection, week: IsoWeek, team: str | None) -> list[str | None]:
    """[None] for the fleet; [team] for a known team; every team with usage in the week for 'all'.

    Call after `queries.load_cells`.
    """
    if team is None:
        return [None]
    if team == "all":
        return [t.team for t in queries.teams(con, week.start, week.end, week.previous().start, None)]
    if not queries.team_known(con, team):
        known = queries.all_teams(con)
        shown = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
        raise GpucostError(f"unknown team {team!r} (teams in the warehouse: {shown or 'none'})")
    return [team]


def _pct_change(now: float, before: float) -> float | None:
    return (now - before) / before * 100 if before else None


def collect(con: duckdb.DuckDBPyConnection, week: IsoWeek, window: DataWindow, team: str | None,
            step_seconds: int, generated_at: datetime) -> ReportData:
    """One scope's report. Precondition: `queries.load_cells` ran for [previous week, week)."""
    start, end = week.start, week.end
    prev = week.previous()
    notes: list[str] = []
    totals, first_ts, last_ts = queries.totals(con, start, end, team)
    before, _, _ = queries.totals(con, prev.start, prev.end, team)
    change = Change(str(prev), before.spend_usd, before.gpu_hours,
                    _pct_change(totals.spend_usd, before.spend_usd),
                    _pct_change(totals.gpu_hours, before.gpu_hours))
    jobs = queries.jobs(con, start, end, team)
    wasteful = queries.job_records(jobs[jobs["idle_cost_usd"] > 0].head(TOP_JOBS))
    complete = window.start is not None and window.start <= start and window.end >= end
    has_data = totals.gpu_usage_rows > 0
    who = f"team {team}" if team else "the fleet"
    if not has_data:
        notes.append(f"No GPU usage recorded for {who} in week {week} "
                     f"(warehouse data: {window.text()}).")
    elif not complete:
        notes.append(f"Partial week: the warehouse's data covers {window.text()}, "
                     f"not all of {start:%Y-%m-%d} to {end:%Y-%m-%d}.")
    if before.gpu_usage_rows == 0 and has_data:
        notes.append(f"No usage in the previous week {prev}: week-over-week change is not defined.")

    no_data = totals.state("no_data")
    if team is None:
        asset = quality.asset_gpu_cost(con, start, end)
        identity_gap = None if asset is None else totals.spend_usd - asset
        rec, note = quality.reconciliation(con, start, end)
        stranded = quality.stranded(con, start, end, totals.state("unallocated").cost_usd)
        if stranded is None:
            notes.append("Stranded capacity skipped: no fragmentation rows for the week (`gpucost build` "
                         "writes them).")
    else:
        asset = identity_gap = rec = stranded = None
        note = "Bill reconciliation and stranded capacity are fleet-wide: see the fleet report."
    if note:
        notes.append(note)
    dq = DataQuality(
        no_data_cost_usd=no_data.cost_usd, no_data_gpu_hours=no_data.gpu_hours,
        no_data_cost_share=no_data.share,
        no_data_hours_share=no_data.gpu_hours / totals.gpu_hours if totals.gpu_hours else None,
        price_sources=queries.price_sources(con, start, end, team, totals.spend_usd),
        asset_gpu_cost_usd=asset, identity_gap_usd=identity_gap, reconciliation=rec)

    namespaces = quality.team_namespaces(con, start, end, team) if team else []
    recs, rec_note = quality.recommendations(con, team, namespaces)
    if rec_note:
        notes.append(rec_note)
    savings = None if recs is None else sum(r.monthly_savings_usd or 0.0 for r in recs)

    report = WeeklyReport(
        week=str(week), week_label=week.label(), window_start=start, window_end=end,
        scope="team" if team else "fleet", team=team, generated_at=generated_at,
        data_start=window.start, data_end=window.end,
        coverage_start=_ts(first_ts),
        coverage_end=None if last_ts is None else _ts(last_ts) + timedelta(seconds=step_seconds),
        complete=complete, has_data=has_data, clusters=queries.clusters(con, start, end, team),
        totals=totals, change=change, stranded=stranded,
        teams=queries.teams(con, start, end, prev.start, team), jobs=len(jobs), wasteful_jobs=wasteful,
        recommendations=None if recs is None else tuple(recs[:TOP_RECOMMENDATIONS]),
        recommendations_count=0 if recs is None else len(recs), recommendations_savings_usd=savings,
        data_quality=dq, notes=tuple(notes))
    return ReportData(report, queries.by_day(con, start, end, team), jobs, recs)
