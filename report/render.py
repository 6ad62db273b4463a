"""Render a `WeeklyReport` as HTML (for browsers, mail clients and PDF) and as Markdown.

The HTML is one self-contained file: every style a mail client needs is inline (a <style>
block carries only print rules), layout is tables of fixed width, and charts are PNG images.
``image_src`` chooses how an image is referenced: a base64 ``data:`` URI for the file on disk
(browsers, Chromium's PDF), ``cid:`` for the e-mail body, whose images travel as inline MIME
parts (Gmail and Outlook do not show data: URIs in mail). Numbers are formatted with the
dashboard's helpers (``gpucost.dashboard.formatting``) so both show a figure the same way.
"""

from __future__ import annotations

from typing import Callable, Mapping

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from gpucost.dashboard import formatting as fmt
from gpucost.dashboard.figures import STATE_COLOURS, STATE_LABELS
from gpucost.report.collect import TOP_JOBS
from gpucost.report.images import WIDTH_PX, Chart
from gpucost.report.model import WeeklyReport

TOP_TEAMS = 10

_CELL = "padding:5px 6px;border-bottom:1px solid #e4e7eb;font-size:13px;color:#1f2933;"
STYLES = {
    "font": "font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;",
    "h2": "margin:8px 0 8px 0;font-size:17px;color:#1f2933;",
    "p": "margin:6px 0;font-size:14px;color:#1f2933;",
    "note": "margin:6px 0;font-size:12px;color:#52606d;",
    "table": "border-collapse:collapse;margin-top:8px;",
    "th": "padding:5px 6px;border-bottom:2px solid #cbd2d9;font-size:12px;color:#52606d;text-align:left;",
    "thr": "padding:5px 6px;border-bottom:2px solid #cbd2d9;font-size:12px;color:#52606d;text-align:right;",
    "td": _CELL + "text-align:left;",
    "tdr": _CELL + "text-align:right;white-space:nowrap;",
}


def change(value: float | None) -> str:
    """Week-over-week change in percent: '+4.2 %', '-3.1 %'; '—' when not defined."""
    if value is None:
        return "—"
    return "0.0 %" if round(value, 1) == 0 else f"{value:+.1f} %"


def usd_gap(value: float | None) -> str:
    """A signed difference in USD: '+$12.30', '-$1,204', '$0.00' below half a cent."""
    if value is None:
        return "—"
    if abs(value) < 0.005:
        return "$0.00"
    return ("+" if value > 0 else "-") + fmt.usd(abs(value))


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("gpucost.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(usd=fmt.usd, gpu_hours=fmt.gpu_hours, pct=fmt.pct, share=fmt.share, change=change,
                       usd_gap=usd_gap)
    return env


def cards(r: WeeklyReport) -> list[dict[str, str]]:
    """The four headline cards: id, label, value, sub-line."""
    t, c = r.totals, r.change
    vs = f"vs {c.previous_week}"
    idle_label = "Allocated, idle" if r.team else "Idle + unallocated"
    return [
        {"id": "kpi-spend", "label": "GPU spend", "value": fmt.usd(t.spend_usd),
         "sub": f"{change(c.spend_pct)} {vs}", "md": change(c.spend_pct)},
        {"id": "kpi-gpu-hours", "label": "GPU-hours", "value": fmt.gpu_hours(t.gpu_hours),
         "sub": f"{change(c.gpu_hours_pct)} {vs}", "md": change(c.gpu_hours_pct)},
        {"id": "kpi-util", "label": "Utilisation", "value": fmt.pct(t.util_pct),
         "sub": "of allocated, observed GPU time", "md": ""},
        {"id": "kpi-idle", "label": idle_label, "value": fmt.usd(t.idle_usd),
         "sub": f"{fmt.share(t.idle_share)} of spend", "md": f"{fmt.share(t.idle_share)} of spend"},
    ]


def html(r: WeeklyReport, charts: Mapping[str, Chart],
         image_src: Callable[[Chart], str] = Chart.data_uri) -> str:
    """The report as one HTML document (see the module docstring for image_src)."""
    def img(chart: Chart) -> Markup:
        return Markup(
            f'<img src="{escape(image_src(chart))}" width="{chart.width}" alt="{escape(chart.alt)}" '
            f'style="display:block;width:100%;max-width:{chart.width}px;height:auto;border:0;">')

    return _environment().get_template("weekly.html.j2").render(
        r=r, charts=charts, img=img, cards=cards(r), S=STYLES, width=WIDTH_PX,
        colours=STATE_COLOURS, labels=STATE_LABELS, top_teams=TOP_TEAMS, top_jobs=TOP_JOBS)


# ---------------------------------------------------------------- Markdown


def _md(text: object) -> str:
    return str(text).replace("|", "\\|")


def _table(header: list[str], rows: list[list[object]], right_from: int = 1) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |",
            *["| " + " | ".join(_md(v) for v in row) + " |" for row in rows], ""]


def markdown(r: WeeklyReport, chart_files: Mapping[str, str] | None = None) -> str:
    """A Markdown summary of the same numbers; chart_files maps chart name -> relative path."""
    charts = chart_files or {}
    scope = f"team {r.team}" if r.team else "fleet"
    out = [f"# GPU cost, week {r.week} ({scope})", "",
           f"{r.week_label} (UTC)" + (f" · clusters: {', '.join(r.clusters)}" if r.clusters else ""), ""]
    if not r.has_data:
        out += [f"**No GPU usage was recorded for {'team ' + r.team if r.team else 'the fleet'} "
                f"in week {r.week}: there is nothing to report.**", ""]
    else:
        out += _table(["", "this week", f"vs {r.change.previous_week}"], [
            [c["label"], c["value"], c["md"]] for c in cards(r)], right_from=1)
        out += ["## Spend by GPU state", ""]
        out += [f"![{name}]({path})" for name, path in charts.items() if name.startswith("spend")] + [""]
        rows = [[STATE_LABELS[s.state], fmt.usd(s.cost_usd), fmt.share(s.share), fmt.gpu_hours(s.gpu_hours)]
                for s in r.totals.states]
        if r.stranded:
            rows.append(["of which stranded", fmt.usd(r.stranded.cost_usd),
                         f"{fmt.share(r.stranded.share_of_unallocated)} of unallocated",
                         fmt.gpu_hours(r.stranded.gpu_hours)])
        out += _table(["State", "Cost", "Share", "GPU-hours"], rows)
        if r.scope == "fleet" and r.teams:
            out += ["## Top teams", ""]
            out += [f"![cost-by-team]({charts['cost-by-team']})", ""] if "cost-by-team" in charts else []
            out += _table(["Team", "Jobs", "GPU-hours", "Util.", "Cost", "Idle cost", f"vs {r.change.previous_week}"],
                          [[t.team, t.jobs, fmt.gpu_hours(t.gpu_hours), fmt.pct(t.util_pct), fmt.usd(t.cost_usd),
                            fmt.usd(t.idle_cost_usd), change(t.change_pct)] for t in r.teams[:TOP_TEAMS]])
        out += [f"## Top {TOP_JOBS} wasteful jobs (allocated-idle cost)", ""]
        if r.wasteful_jobs:
            out += [f"![idle-by-job]({charts['idle-by-job']})", ""] if "idle-by-job" in charts else []
            out += _table(["Job", "Team", "GPU-hours", "Util.", "Cost", "Idle cost"],
                          [[f"{j.namespace}/{j.job}", j.team, fmt.gpu_hours(j.gpu_hours), fmt.pct(j.util_pct),
                            fmt.usd(j.cost_usd), fmt.usd(j.idle_cost_usd)] for j in r.wasteful_jobs], right_from=2)
        else:
            out += ["No job held an allocated but idle GPU this week.", ""]
    out += ["## Recommendations", ""]
    if r.recommendations is None:
        out += ["Not available yet: this warehouse has no recommendations table.", ""]
    elif not r.recommendations:
        out += ["No recommendations.", ""]
    else:
        out += [f"{fmt.usd(r.recommendations_savings_usd)} per month from {r.recommendations_count} "
                "recommendation(s); the largest:", ""]
        out += _table(["Kind", "Target", "Action", "Saving / month"],
                      [[x.kind, x.target, x.action, fmt.usd(x.monthly_savings_usd)] for x in r.recommendations],
                      right_from=3)
    if r.has_data:
        dq = r.data_quality
        out += ["## Data quality", "",
                f"No telemetry (no_data): {fmt.usd(dq.no_data_cost_usd)}, {fmt.share(dq.no_data_cost_share)} of "
                f"spend, {fmt.share(dq.no_data_hours_share)} of GPU-hours.", ""]
        out += _table(["Price source", "GPU-hours", "Cost", "Share"],
                      [[p.price_source, fmt.gpu_hours(p.gpu_hours), fmt.usd(p.cost_usd), fmt.share(p.share)]
                       for p in dq.price_sources])
        if dq.asset_gpu_cost_usd is not None:
            out += [f"Accounting identity: GPU spend {fmt.usd(r.totals.spend_usd)} vs asset_costs GPU share "
                    f"{fmt.usd(dq.asset_gpu_cost_usd)} (difference {usd_gap(dq.identity_gap_usd)}).", ""]
        b = dq.reconciliation
        if b:
            rows = [["Billing line items in the week", b.billing_lines],
                    ["Instances on the bill and costed", b.instances_matched],
                    ["Billed cost", fmt.usd(b.billed_usd)], ["Effective cost", fmt.usd(b.effective_usd)],
                    ["Computed by gpucost", fmt.usd(b.computed_usd)],
                    ["Gap (effective - computed)", f"{usd_gap(b.gap_usd)} ({change(b.gap_pct)})"],
                    ["Nodes costed without line items", f"{b.unbilled_nodes} ({fmt.usd(b.unbilled_computed_usd)})"]]
            if b.unseen_instances is not None:
                rows.append(["GPU instances billed, not seen", f"{b.unseen_instances} ({fmt.usd(b.unseen_billed_usd)})"])
            out += _table(["Bill reconciliation", ""], rows)
    if r.notes:
        out += ["## Notes", "", *[f"- {n}" for n in r.notes], ""]
    out += [f"Window [{r.window_start:%Y-%m-%d %H:%M}, {r.window_end:%Y-%m-%d %H:%M}) UTC from gpu_usage; "
            f"generated {r.generated_at:%Y-%m-%d %H:%M} UTC by gpucost.", ""]
    return "\n".join(out)
