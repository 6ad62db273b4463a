"""Pure figure builders shared by the dashboard and the weekly report.

Every builder takes pandas frames (as returned by ``dashboard.queries``) and returns a
``plotly.graph_objects.Figure``; none reads the warehouse, the clock or the settings.
Money is in USD, time in GPU-hours, timestamps are UTC. GPU states always appear in the
same order and colour (``STATE_ORDER``, ``STATE_COLOURS``) so charts compare at a glance.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd
import plotly.graph_objects as go

# Bottom-to-top stacking order: the cost that does work first, then the waste.
STATE_ORDER: tuple[str, ...] = ("active", "allocated_idle", "unallocated", "no_data")
STATE_LABELS: Mapping[str, str] = {
    "active": "Active",
    "allocated_idle": "Allocated, idle",
    "unallocated": "Unallocated",
    "no_data": "No data",
}
# Okabe-Ito palette (colour-blind safe); no-data is grey, never a shade of "idle".
STATE_COLOURS: Mapping[str, str] = {
    "active": "#0072B2",
    "allocated_idle": "#E69F00",
    "unallocated": "#D55E00",
    "no_data": "#999999",
}
BUCKET_LABELS: Mapping[str, str] = {"hour": "hour", "day": "day"}

_FONT = dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=13)


def _base_layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=16)),
        template="plotly_white",
        font=_FONT,
        height=height,
        margin=dict(l=10, r=10, t=60, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1,
                    traceorder="normal"),
        hoverlabel=dict(namelength=-1),
    )
    return fig


def _empty(fig: go.Figure, message: str) -> go.Figure:
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper",
                       x=0.5, y=0.5, font=dict(size=14, color="#666"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def spend_by_state_over_time(df: pd.DataFrame, bucket: str = "hour") -> go.Figure:
    """Stacked bars of GPU cost per state per time bucket.

    df: columns ``bucket_start`` (UTC timestamp, start of the bucket), ``state`` (one of
    STATE_ORDER), ``cost_usd`` (USD spent in that state during the bucket). Missing
    (bucket, state) pairs count as 0. ``bucket`` ("hour" or "day") only labels the y axis.
    One trace per state, always all four, in STATE_ORDER, named by STATE_LABELS.
    """
    if bucket not in BUCKET_LABELS:
        raise ValueError(f"bucket must be one of {sorted(BUCKET_LABELS)}, got {bucket!r}")
    fig = go.Figure()
    title = f"GPU spend by state, per {BUCKET_LABELS[bucket]}"
    _base_layout(fig, title, height=380)
    if df.empty:
        return _empty(fig, "No GPU usage in this window")
    wide = (df.pivot_table(index="bucket_start", columns="state", values="cost_usd",
                           aggfunc="sum", fill_value=0.0)
              .reindex(columns=list(STATE_ORDER), fill_value=0.0)
              .sort_index())
    for state in STATE_ORDER:
        fig.add_trace(go.Bar(
            x=wide.index, y=wide[state].astype(float), name=STATE_LABELS[state],
            marker_color=STATE_COLOURS[state], marker_line_width=0,
            hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>%{fullData.name}: $%{y:,.2f}<extra></extra>",
        ))
    top = float(wide.sum(axis=1).max())
    fig.update_layout(barmode="stack", bargap=0.1)
    fig.update_xaxes(title_text=f"Time (UTC, per {BUCKET_LABELS[bucket]})")
    fig.update_yaxes(title_text=f"Cost (USD per {BUCKET_LABELS[bucket]})", tickprefix="$",
                     tickformat=",.0f", range=[0, top * 1.08 if top > 0 else 1])
    return fig


def cost_by_team(df: pd.DataFrame, max_teams: int = 15) -> go.Figure:
    """Horizontal stacked bars per team: active vs allocated-idle cost, largest on top.

    df: columns ``team``, ``cost_usd`` (active + allocated-idle USD, as job_costs.cost_usd)
    and ``idle_cost_usd`` (the allocated-idle part). Active cost = cost_usd - idle_cost_usd.
    Teams beyond the ``max_teams`` most expensive are summed into one "Other (N teams)" bar
    at the bottom. Unallocated capacity belongs to no team and is not shown here.
    """
    fig = go.Figure()
    _base_layout(fig, "Allocated GPU cost by team", height=300)
    fig.update_layout(title_subtitle_text="Active and allocated-idle cost of the teams' jobs; "
                                          "unallocated GPUs belong to no team",
                      title_subtitle_font=dict(size=12, color="#52606d"), margin_t=80)
    if df.empty:
        return _empty(fig, "No jobs in this window")
    teams = (df[["team", "cost_usd", "idle_cost_usd"]]
             .assign(team=lambda d: d["team"].fillna("(no team)").astype(str))
             .groupby("team", as_index=False).sum()
             .sort_values(["cost_usd", "team"], ascending=[False, True], ignore_index=True))
    if len(teams) > max_teams:
        rest = teams.iloc[max_teams - 1:]
        other = pd.DataFrame({"team": [f"Other ({len(rest)} teams)"],
                              "cost_usd": [rest["cost_usd"].sum()],
                              "idle_cost_usd": [rest["idle_cost_usd"].sum()]})
        teams = pd.concat([teams.iloc[:max_teams - 1], other], ignore_index=True)
    teams = teams.iloc[::-1]  # plotly draws the first category at the bottom
    active = (teams["cost_usd"] - teams["idle_cost_usd"]).clip(lower=0).astype(float)
    for state, values in (("active", active), ("allocated_idle", teams["idle_cost_usd"].astype(float))):
        fig.add_trace(go.Bar(
            y=teams["team"], x=values, orientation="h", name=STATE_LABELS[state],
            marker_color=STATE_COLOURS[state], marker_line_width=0,
            hovertemplate="%{y}<br>%{fullData.name}: $%{x:,.2f}<extra></extra>",
        ))
    fig.update_layout(barmode="stack", bargap=0.25, height=140 + 32 * len(teams))
    fig.update_xaxes(title_text="Cost (USD)", tickprefix="$", tickformat=",.0f", rangemode="tozero")
    fig.update_yaxes(title_text=None, automargin=True, type="category", ticksuffix="  ")
    return fig


def spend_by_state(df: pd.DataFrame) -> go.Figure:
    """One horizontal stacked bar splitting total spend by state (for the report's summary).

    df: columns ``state`` and ``cost_usd`` (USD). States absent from df count as 0.
    """
    fig = go.Figure()
    _base_layout(fig, "GPU spend by state", height=200)
    totals = df.groupby("state")["cost_usd"].sum() if not df.empty else pd.Series(dtype=float)
    total = float(totals.sum())
    if total <= 0:
        return _empty(fig, "No GPU spend in this window")
    for state in STATE_ORDER:
        value = float(totals.get(state, 0.0))
        fig.add_trace(go.Bar(
            y=["Spend"], x=[value], orientation="h", name=STATE_LABELS[state],
            marker_color=STATE_COLOURS[state], marker_line_width=0,
            customdata=[[100.0 * value / total]],
            hovertemplate="%{fullData.name}: $%{x:,.2f} (%{customdata[0]:.1f}%)<extra></extra>",
        ))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text="Cost (USD)", tickprefix="$", tickformat=",.0f")
    fig.update_yaxes(visible=False)
    return fig
