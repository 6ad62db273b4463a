"""Report-only figure builders (pure: frames in, plotly figures out).

The report draws the dashboard's builders (``gpucost.dashboard.figures``) for spend by state,
spend per day and cost by team; the one chart the dashboard has no builder for lives here, in
the same style (STATE_COLOURS, STATE_LABELS) so it could move to dashboard/figures.py as is.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from gpucost.dashboard.figures import STATE_COLOURS, STATE_LABELS

_FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=13)


def idle_cost_by_job(jobs: pd.DataFrame, top: int = 10) -> go.Figure:
    """Horizontal stacked bars, active vs allocated-idle cost, of the ``top`` jobs with the
    most allocated-idle cost (largest on top; jobs without idle cost are left out).

    jobs: columns ``namespace``, ``job``, ``cost_usd`` (active + allocated-idle USD, as
    job_costs) and ``idle_cost_usd`` (the allocated-idle part). Bars are labelled
    'namespace/job'; active = cost_usd - idle_cost_usd.
    """
    fig = go.Figure()
    fig.update_layout(title=dict(text=f"Top {top} jobs by allocated-idle cost", x=0, xanchor="left",
                                 font=dict(size=16)),
                      template="plotly_white", font=_FONT, height=300,
                      margin=dict(l=10, r=10, t=60, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1,
                                  traceorder="normal"))
    picked = jobs[jobs["idle_cost_usd"] > 0]
    if picked.empty:
        fig.add_annotation(text="No job had allocated-idle GPUs in this window", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5, font=dict(size=14, color="#666"))
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return fig
    picked = (picked.sort_values(["idle_cost_usd", "cost_usd", "namespace", "job"],
                                 ascending=[False, False, True, True]).head(top).iloc[::-1])
    labels = (picked["namespace"].astype(str) + "/" + picked["job"].astype(str)).tolist()
    active = (picked["cost_usd"] - picked["idle_cost_usd"]).clip(lower=0).astype(float)
    for state, values in (("active", active), ("allocated_idle", picked["idle_cost_usd"].astype(float))):
        fig.add_trace(go.Bar(y=labels, x=values, orientation="h", name=STATE_LABELS[state],
                             marker_color=STATE_COLOURS[state], marker_line_width=0,
                             hovertemplate="%{y}<br>%{fullData.name}: $%{x:,.2f}<extra></extra>"))
    fig.update_layout(barmode="stack", bargap=0.25, height=140 + 30 * len(picked))
    fig.update_xaxes(title_text="Cost (USD)", tickprefix="$", tickformat=",.0f", rangemode="tozero")
    fig.update_yaxes(title_text=None, automargin=True, type="category", ticksuffix="  ")
    return fig
