"""Write one report's files into a folder: HTML, Markdown, JSON, CSVs, chart PNGs, PDF.

Names start with the report's slug, ``gpucost-<ISO week>[-team-<team>]``:

    <slug>.html                  self-contained (inline styles, charts as base64 PNG)
    <slug>.md                    summary; links the chart PNGs beside it
    <slug>.json                  every number of the report (model.WeeklyReport)
    <slug>-<chart>.png           the charts (also inside the HTML)
    <slug>-jobs.csv              every job with GPU usage in the week
    <slug>-teams.csv             every team with GPU usage in the week
    <slug>-recommendations.csv   only when the warehouse has a recommendations table
    <slug>.pdf                   with --pdf
CSV numbers are unrounded (USD, GPU-hours, percent); timestamps ISO 8601 UTC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from gpucost.report.collect import ReportData
from gpucost.report.images import Chart
from gpucost.report.model import WeeklyReport
from gpucost.report.render import html, markdown

TEAM_COLUMNS = ["team", "jobs", "gpu_hours", "idle_gpu_hours", "no_data_gpu_hours", "util_pct", "cost_usd",
                "idle_cost_usd", "no_data_cost_usd", "previous_cost_usd", "change_pct"]
RECOMMENDATION_COLUMNS = ["id", "kind", "target", "action", "monthly_savings_usd", "confidence"]


@dataclass
class Written:
    report: WeeklyReport
    html: Path
    markdown: Path
    json: Path
    csvs: list[Path]
    charts: dict[str, Chart]
    chart_files: list[Path]
    pdf: Path | None = None
    extra: list[Path] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        return [self.html, self.markdown, self.json, *self.csvs, *self.chart_files,
                *([self.pdf] if self.pdf else []), *self.extra]

    @property
    def attachments(self) -> list[Path]:
        """What an e-mail carries besides its HTML body: the CSVs, and the PDF if made."""
        return [*self.csvs, *([self.pdf] if self.pdf else [])]


def write_report(data: ReportData, charts: dict[str, Chart], out: Path) -> Written:
    """Write everything but the PDF (see pdf.print_pdf) into `out` (created if missing)."""
    r = data.report
    out.mkdir(parents=True, exist_ok=True)
    stem = out / r.slug
    chart_files = []
    for name, chart in charts.items():
        path = out / f"{r.slug}-{name}.png"
        path.write_bytes(chart.png)
        chart_files.append(path)
    html_path = stem.with_suffix(".html")
    html_path.write_text(html(r, charts), encoding="utf-8")
    md_path = stem.with_suffix(".md")
    md_path.write_text(markdown(r, {n: f"{r.slug}-{n}.png" for n in charts}), encoding="utf-8")
    json_path = stem.with_suffix(".json")
    json_path.write_text(r.to_json(), encoding="utf-8")

    csvs = [out / f"{r.slug}-jobs.csv", out / f"{r.slug}-teams.csv"]
    data.jobs.to_csv(csvs[0], index=False, date_format="%Y-%m-%dT%H:%M:%S")
    pd.DataFrame([asdict(t) for t in r.teams], columns=TEAM_COLUMNS).to_csv(csvs[1], index=False)
    if data.recommendations is not None:
        path = out / f"{r.slug}-recommendations.csv"
        pd.DataFrame([asdict(x) for x in data.recommendations], columns=RECOMMENDATION_COLUMNS).to_csv(
            path, index=False)
        csvs.append(path)
    return Written(r, html_path, md_path, json_path, csvs, charts, chart_files)
