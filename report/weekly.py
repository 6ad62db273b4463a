"""`generate`: the weekly report end to end, from the warehouse to files on disk.

Opens the warehouse read-only (the published snapshot when there is one, like the
dashboard), scans the week and the week before once, builds one report per scope (the fleet,
a team, or every team with usage in the week), renders its charts with one kaleido/Chromium
session and writes its files (see files.py); prints nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from gpucost.dashboard import figures
from gpucost.report import charts as report_charts
from gpucost.report import queries
from gpucost.report.collect import ReportData, choose_week, collect, resolve_teams, warehouse_window
from gpucost.report.files import Written, write_report
from gpucost.report.images import Chart, ImageRenderer
from gpucost.report.pdf import print_pdf
from gpucost.report.week import IsoWeek
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse


@dataclass
class Timings:
    """Seconds per phase of one `generate` call (for bench/report_bench.py)."""

    query_s: float = 0.0
    charts_s: float = 0.0
    write_s: float = 0.0
    pdf_s: float = 0.0
    reports: int = 0
    charts: int = 0

    @property
    def total_s(self) -> float:
        return self.query_s + self.charts_s + self.write_s + self.pdf_s


def chart_figures(data: ReportData) -> dict:
    """Figures of one report, by chart name (empty when the scope had no usage)."""
    r = data.report
    if not r.has_data:
        return {}
    states = [{"state": s.state, "cost_usd": s.cost_usd} for s in r.totals.states]
    per_day = figures.spend_by_state_over_time(data.by_day, "day")
    per_day.update_xaxes(tickformat="%a %-d %b", dtick=86_400_000)  # one tick per day: 'Mon 9 Nov'
    out = {"spend-by-state": figures.spend_by_state(pd.DataFrame(states)), "spend-by-day": per_day}
    if r.scope == "fleet":
        fig = figures.cost_by_team(pd.DataFrame(
            [{"team": t.team, "cost_usd": t.cost_usd, "idle_cost_usd": t.idle_cost_usd} for t in r.teams],
            columns=["team", "cost_usd", "idle_cost_usd"]))
        # At the report's 720 px the legend would overlap the builder's subtitle: make room.
        fig.update_layout(margin_t=110, height=int(fig.layout.height or 300) + 30)
        out["cost-by-team"] = fig
    if r.wasteful_jobs:
        out["idle-by-job"] = report_charts.idle_cost_by_job(data.jobs)
    return out


def generate(settings: Settings, out: Path, week: IsoWeek | None = None, team: str | None = None,
             pdf: bool = False, now: datetime | None = None, timings: Timings | None = None) -> list[Written]:
    """Write the week's report(s) into `out`; see the module docstring.

    team: None (fleet), a team name, or 'all'. now: the generation time shown (default: the
    clock, UTC). Raises GpucostError for a week outside the data, an unknown team, or a
    warehouse that cannot be read.
    """
    timings = timings if timings is not None else Timings()
    now = now or datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    started = time.perf_counter()
    with open_warehouse(settings, read_only=True, prefer_snapshot=True) as con:
        window = warehouse_window(con, settings.step_seconds)
        chosen = choose_week(window, week)
        queries.load_cells(con, chosen.previous().start, chosen.end)
        datas = [collect(con, chosen, window, t, settings.step_seconds, now)
                 for t in resolve_teams(con, chosen, team)]
    timings.query_s += time.perf_counter() - started
    timings.reports += len(datas)

    written = []
    figs = [chart_figures(d) for d in datas]
    started = time.perf_counter()
    rendered: list[dict[str, Chart]] = []
    if any(figs):
        with ImageRenderer() as renderer:
            rendered = [{name: renderer.render(name, fig) for name, fig in f.items()} for f in figs]
    else:
        rendered = [{} for _ in figs]
    timings.charts_s += time.perf_counter() - started
    timings.charts += sum(len(c) for c in rendered)

    for data, charts in zip(datas, rendered):
        started = time.perf_counter()
        w = write_report(data, charts, out)
        timings.write_s += time.perf_counter() - started
        if pdf:
            started = time.perf_counter()
            w.pdf = print_pdf(w.html, w.html.with_suffix(".pdf"))
            timings.pdf_s += time.perf_counter() - started
        written.append(w)
    return written
