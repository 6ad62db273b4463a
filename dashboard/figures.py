"""Pure figure builders shared by the dashboard and the weekly report.

Every builder takes pandas frames (as returned by ``dashboard.queries``) and returns a
``plotly.graph_objects.Figure``; none reads the warehouse, the clock or the settings.
Money is in USD, time in GPU-hours, timestamps are UTC. GPU states always appear in the
same order and colour (``STATE_ORDER``, ``STATE_COLOURS``) so charts compare at a glance.

Builders assemble plain trace and layout dicts and make the Figure in one call (``figure``):
plotly validates the whole figure once, ten times faster than growing it with
``add_trace``/``update_layout`` (which matters in a dashboard callback). The other builder
modules (``figures_usage``, ``figures_costs``) use the same helpers.
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


# Axis style of plotly's "plotly_white" look, set directly: resolving a named template costs
# more than the rest of a small figure (a deep copy per figure).
AXIS_STYLE = dict(gridcolor="#EBF0F8", linecolor="#EBF0F8", zerolinecolor="#EBF0F8", zerolinewidth=2,
                  automargin=True, ticks="")
SUBTITLE_FONT = dict(size=12, color="#52606d")


def axis(title: str | None = None, **props) -> dict:
    """An axis dict in the house style with an optional title."""
    out = dict(AXIS_STYLE, **props)
    if title is not None:
        out["title"] = dict(text=title, standoff=12)
    return out


def base_layout(title: str, height: int, subtitle: str | None = None, **props) -> dict:
    """The layout every chart shares: left-aligned title (and subtitle), white background,
    horizontal legend at the top right, house axes. ``props`` override or add keys."""
    layout = dict(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=16)),
        template="none",
        paper_bgcolor="white",
        plot_bgcolor="white",
        font=dict(_FONT, color="#2a3f5f"),
        height=height,
        margin=dict(l=10, r=10, t=80 if subtitle else 60, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1, traceorder="normal"),
        hoverlabel=dict(namelength=-1),
        hovermode="closest",
        xaxis=axis(),
        yaxis=axis(),
    )
    if subtitle:
        layout["title"].update(subtitle=dict(text=subtitle, font=SUBTITLE_FONT))
    layout.update(props)
    return layout


def figure(data: list[dict], layout: dict) -> go.Figure:
    """The Figure of ``data`` (trace dicts with a ``type``) and ``layout``, validated once."""
    return go.Figure(data=data, layout=layout)


def empty_figure(layout: dict, message: str) -> go.Figure:
    """A chart frame that says why it has nothing to show (no axes)."""
    layout = dict(layout, xaxis=dict(visible=False), yaxis=dict(visible=False),
                  annotations=[dict(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5,
                                    font=dict(size=14, color="#666"))])
    return figure([], layout)


def _base_layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    """Style an existing figure like ``base_layout`` (for figures grown incrementally)."""
    fig.update_layout(base_layout(title, height))
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
    layout = base_layout(f"GPU spend by state, per {BUCKET_LABELS[bucket]}", 380)
    if df.empty:
        return empty_figure(layout, "No GPU usage in this window")
    wide = (df.pivot_table(index="bucket_start", columns="state", values="cost_usd",
                           aggfunc="sum", fill_value=0.0)
              .reindex(columns=list(STATE_ORDER), fill_value=0.0)
              .sort_index())
    data = [dict(type="bar", x=wide.index, y=wide[state].to_numpy(float), name=STATE_LABELS[state],
                 marker=dict(color=STATE_COLOURS[state], line=dict(width=0)),
                 hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>%{fullData.name}: $%{y:,.2f}<extra></extra>")
            for state in STATE_ORDER]
    top = float(wide.sum(axis=1).max())
    layout.update(
        barmode="stack", bargap=0.1,
        xaxis=axis(f"Time (UTC, per {BUCKET_LABELS[bucket]})"),
        yaxis=axis(f"Cost (USD per {BUCKET_LABELS[bucket]})", tickprefix="$", tickformat=",.0f",
                   range=[0, top * 1.08 if top > 0 else 1]),
    )
    return figure(data, layout)


def cost_by_team(df: pd.DataFrame, max_teams: int = 15) -> go.Figure:
    """Horizontal stacked bars per team: active vs allocated-idle cost, largest on top.

    df: columns ``team``, ``cost_usd`` (active + allocated-idle USD, as job_costs.cost_usd)
    and ``idle_cost_usd`` (the allocated-idle part). Active cost = cost_usd - idle_cost_usd.
    Teams beyond the ``max_teams`` most expensive are summed into one "Other (N teams)" bar
    at the bottom. Unallocated capacity belongs to no team and is not shown here.
    """
    layout = base_layout("Allocated GPU cost by team", 300,
                         subtitle="Active and allocated-idle cost of the teams' jobs; "
                                  "unallocated GPUs belong to no team")
    if df.empty:
        return empty_figure(layout, "No jobs in this window")
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
    active = (teams["cost_usd"] - teams["idle_cost_usd"]).clip(lower=0).to_numpy(float)
    data = [dict(type="bar", y=list(teams["team"]), x=values, orientation="h", name=STATE_LABELS[state],
                 marker=dict(color=STATE_COLOURS[state], line=dict(width=0)),
                 hovertemplate="%{y}<br>%{fullData.name}: $%{x:,.2f}<extra></extra>")
            for state, values in (("active", active),
                                  ("allocated_idle", teams["idle_cost_usd"].to_numpy(float)))]
    layout.update(barmode="stack", bargap=0.25, height=140 + 32 * len(teams),
                  xaxis=axis("Cost (USD)", tickprefix="$", tickformat=",.0f", rangemode="tozero"),
                  yaxis=axis(None, type="category", ticksuffix="  "))
    return figure(data, layout)


def spend_by_state(df: pd.DataFrame) -> go.Figure:
    """One horizontal stacked bar splitting total spend by state (for the report's summary).

    df: columns ``state`` and ``cost_usd`` (USD). States absent from df count as 0.
    """
    layout = base_layout("GPU spend by state", 200)
    totals = df.groupby("state")["cost_usd"].sum() if not df.empty else pd.Series(dtype=float)
    total = float(totals.sum())
    if total <= 0:
        return empty_figure(layout, "No GPU spend in this window")
    data = []
    for state in STATE_ORDER:
        value = float(totals.get(state, 0.0))
        data.append(dict(
            type="bar", y=["Spend"], x=[value], orientation="h", name=STATE_LABELS[state],
            marker=dict(color=STATE_COLOURS[state], line=dict(width=0)),
            customdata=[[100.0 * value / total]],
            hovertemplate="%{fullData.name}: $%{x:,.2f} (%{customdata[0]:.1f}%)<extra></extra>",
        ))
    layout.update(barmode="stack", xaxis=axis("Cost (USD)", tickprefix="$", tickformat=",.0f"),
                  yaxis=axis(None, visible=False))
    return figure(data, layout)
