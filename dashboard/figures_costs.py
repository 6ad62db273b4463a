"""Pure figure builders for team chargeback and prices (shared by the dashboard and the report).

Same rules as ``figures``: frames in, a plotly Figure out, built in one call; USD, UTC.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from gpucost.dashboard.figures import STATE_COLOURS, axis, base_layout, empty_figure, figure
from gpucost.dashboard.figures_usage import stacked_axes

# Okabe-Ito order after the state colours, then greys: distinct for up to 9 series.
SERIES_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
                  "#000000", "#999999")
SHARED_IDLE_COLOUR = "#F5B88F"   # a light shade of the unallocated colour
PRICE_SOURCE_LABELS = {
    "spot_history": "Spot price history",
    "on_demand_list": "On-demand list (Pricing API)",
    "override": "Configured override",
    "catalog_list": "Catalog list price",
}
PRICE_SOURCE_COLOURS = {"spot_history": "#009E73", "on_demand_list": "#0072B2",
                        "override": "#CC79A7", "catalog_list": "#56B4E9"}
POLICY_TITLES = {"separate": "GPU cost per team, idle kept separate",
                 "shared": "GPU cost per team, idle shared back pro rata"}


def team_chargeback(df: pd.DataFrame, policy: str) -> go.Figure:
    """Horizontal stacked bars per team of what it is charged, most charged on top.

    df (``chargeback.chargeback``): ``kind`` ('team', or a row of cost no team carries:
    'unallocated', 'no_data', 'unabsorbed'), ``team`` (the label), ``active_usd``,
    ``idle_usd`` (allocated idle), ``held_no_data_usd``, ``shared_idle_usd`` and
    ``charge_usd``. Rows of no team come after the teams, each as one bar.
    """
    layout = base_layout(POLICY_TITLES.get(policy, "GPU cost per team"), 300)
    if df.empty:
        return empty_figure(layout, "No GPU cost in this window")
    d = df.iloc[::-1].reset_index(drop=True)  # plotly draws the first category at the bottom
    is_team = d["kind"] == "team"
    parts = [
        ("Active", d["active_usd"].where(is_team, 0.0), STATE_COLOURS["active"]),
        ("Allocated, idle", d["idle_usd"].where(is_team, 0.0), STATE_COLOURS["allocated_idle"]),
        ("Held, no telemetry", d["held_no_data_usd"].where(is_team, 0.0), STATE_COLOURS["no_data"]),
        ("Shared idle", d["shared_idle_usd"].where(is_team, 0.0), SHARED_IDLE_COLOUR),
        ("Unallocated (no team)", d["charge_usd"].where(d["kind"].isin(["unallocated", "unabsorbed"]), 0.0),
         STATE_COLOURS["unallocated"]),
        ("No telemetry (no team)", d["charge_usd"].where(d["kind"] == "no_data", 0.0), "#bcc2ca"),
    ]
    teams = list(d["team"])
    data = []
    for name, values, colour in parts:
        values = pd.to_numeric(values, errors="coerce").fillna(0.0).to_numpy(float)
        if values.sum() > 0:
            data.append(dict(type="bar", y=teams, x=values, orientation="h", name=name,
                             marker=dict(color=colour, line=dict(width=0)),
                             hovertemplate="%{y}<br>%{fullData.name}: $%{x:,.2f}<extra></extra>"))
    totals = pd.to_numeric(d["charge_usd"], errors="coerce").fillna(0.0).to_numpy(float)
    data.append(dict(type="scatter", y=teams, x=totals, mode="text", text=[f"  ${v:,.0f}" for v in totals],
                     textposition="middle right", showlegend=False, hoverinfo="skip"))
    top = float(totals.max())
    layout.update(barmode="stack", bargap=0.3, height=150 + 34 * len(d), margin=dict(l=10, r=60, t=60, b=10),
                  xaxis=axis("Cost (USD)", tickprefix="$", tickformat=",.0f", rangemode="tozero",
                             range=[0, top * 1.15 if top > 0 else 1]),
                  yaxis=axis(None, type="category", ticksuffix="  "))
    return figure(data, layout)


def team_charge_over_time(daily: pd.DataFrame, max_teams: int = 8) -> go.Figure:
    """Stacked bars per UTC day of each team's charge (``charge_usd``), largest teams first;
    teams beyond the ``max_teams`` largest are summed into "Other (N teams)".

    daily (``chargeback.daily_charges``): ``day``, ``team``, ``charge_usd``.
    """
    layout = base_layout("Charge per team per day", 340)
    if daily.empty:
        return empty_figure(layout, "No team held a GPU in this window")
    totals = daily.groupby("team")["charge_usd"].sum().sort_values(ascending=False)
    keep = list(totals.index) if len(totals) <= max_teams else list(totals.index[:max_teams - 1])
    rest = len(totals) - len(keep)
    other = f"Other ({rest} teams)"
    label = daily["team"].where(daily["team"].isin(keep), other)
    wide = (daily.assign(label=label).pivot_table(index="day", columns="label", values="charge_usd",
                                                  aggfunc="sum", fill_value=0.0).sort_index())
    order = keep + ([other] if rest else [])
    data = [dict(type="bar", x=wide.index, y=wide[team].to_numpy(float), name=str(team),
                 marker=dict(color=SERIES_COLOURS[i % len(SERIES_COLOURS)], line=dict(width=0)),
                 hovertemplate="%{x|%Y-%m-%d}<br>%{fullData.name}: $%{y:,.2f}<extra></extra>")
            for i, team in enumerate(order)]
    layout.update(barmode="stack", bargap=0.15, xaxis=axis("Day (UTC)"),
                  yaxis=axis("Charge (USD per day)", tickprefix="$", tickformat=",.0f", rangemode="tozero"))
    return figure(data, layout)


def price_history(history: pd.DataFrame, on_demand: pd.DataFrame, end=None, max_types: int = 6) -> go.Figure:
    """Spot price per availability zone (steps) against the on-demand price, one panel per
    instance type (at most ``max_types``).

    history (``data.prices.history``): ``kind``, ``zone``, ``instance_type``,
    ``effective_at``, ``usd_per_hour`` — a price holds until the next one; each series is
    extended to ``end`` (the window end) when given. on_demand: ``instance_type``,
    ``usd_per_hour``, ``source`` ('pricing_api' | 'catalog_list'): a dashed line.
    """
    types = sorted(set(history["instance_type"]) | set(on_demand["instance_type"]))[:max_types]
    rows = max(1, len(types))
    layout = base_layout("Spot vs on-demand price per instance type and zone", 220 + 200 * rows)
    if not types:
        return empty_figure(layout, "No prices for the instance types in this filter")
    layout.update(stacked_axes(rows, spacing=0.08 if rows > 1 else 0.0, titles=types))
    zones = sorted({z for z in history.loc[history["kind"] == "spot", "zone"]})
    zone_colour = {z: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, z in enumerate(zones)}
    shown_legend: set[str] = set()
    start = pd.to_datetime(history["effective_at"]).min() if not history.empty else None
    x_end = pd.Timestamp(end) if end is not None else (
        pd.to_datetime(history["effective_at"]).max() if not history.empty else None)
    data = []
    for row, t in enumerate(types, start=1):
        suffix = "" if row == 1 else str(row)
        h = history[history["instance_type"] == t]
        for (kind, zone), s in h.groupby(["kind", "zone"], sort=True):
            s = s.sort_values("effective_at")
            x, y = list(pd.to_datetime(s["effective_at"])), list(s["usd_per_hour"].astype(float))
            if end is not None and x and x[-1] < pd.Timestamp(end):
                x.append(pd.Timestamp(end))
                y.append(y[-1])
            name = f"Spot {zone or '(no zone)'}" if kind == "spot" else f"On-demand {zone}".strip()
            colour = zone_colour.get(zone, "#000000") if kind == "spot" else STATE_COLOURS["active"]
            data.append(dict(type="scatter", x=x, y=y, mode="lines", xaxis=f"x{suffix}", yaxis=f"y{suffix}",
                             line=dict(shape="hv", width=1.4, color=colour), name=name, legendgroup=name,
                             showlegend=name not in shown_legend,
                             legendrank=100 + zones.index(zone) if zone in zones else 500,
                             hovertemplate=f"{t} {name}<br>%{{x|%Y-%m-%d %H:%M}} UTC<br>"
                                           "$%{y:,.4f} per hour<extra></extra>"))
            shown_legend.add(name)
        od = on_demand[on_demand["instance_type"] == t]
        if not od.empty and start is not None:
            price = float(od["usd_per_hour"].iloc[0])
            name = "On-demand (list)" if od["source"].iloc[0] == "catalog_list" else "On-demand (Pricing API)"
            data.append(dict(type="scatter", x=[start, x_end], y=[price, price], mode="lines",
                             xaxis=f"x{suffix}", yaxis=f"y{suffix}",
                             line=dict(dash="dash", width=1.4, color="#1f2933"), name=name, legendgroup=name,
                             showlegend=name not in shown_legend, legendrank=10,
                             hovertemplate=f"{t} {name}: $%{{y:,.4f}} per hour<extra></extra>"))
            shown_legend.add(name)
        if h[h["kind"] == "spot"].empty:
            domain = layout[f"yaxis{suffix}"]["domain"]
            layout.setdefault("annotations", []).append(dict(
                text="no spot prices recorded for this type", showarrow=False, xref="paper", yref="paper",
                x=0.5, y=(domain[0] + domain[1]) / 2, font=dict(size=12, color="#7b8794")))
        layout[f"yaxis{suffix}"].update(title=dict(text="USD per hour"), tickprefix="$", rangemode="tozero")
    layout[f"xaxis{'' if rows == 1 else rows}"].update(title=dict(text="Time (UTC)"))
    layout.update(margin=dict(l=10, r=10, t=90, b=10), legend=dict(layout["legend"], y=1.0 + 0.12 / rows))
    return figure(data, layout)


def price_source_mix(df: pd.DataFrame) -> go.Figure:
    """GPU cost per UTC day stacked by the price source that priced it (asset_costs).

    df (``data.prices.source_mix``): ``day``, ``price_source``, ``gpu_cost_usd``.
    """
    layout = base_layout("GPU cost by price source per day", 320)
    if df.empty:
        return empty_figure(layout, "No asset costs in this window")
    wide = df.pivot_table(index="day", columns="price_source", values="gpu_cost_usd", aggfunc="sum",
                          fill_value=0.0).sort_index()
    known = [s for s in PRICE_SOURCE_LABELS if s in wide.columns]
    data = [dict(type="bar", x=wide.index, y=wide[source].to_numpy(float),
                 name=PRICE_SOURCE_LABELS.get(source, source),
                 marker=dict(color=PRICE_SOURCE_COLOURS.get(source, "#999999"), line=dict(width=0)),
                 hovertemplate="%{x|%Y-%m-%d}<br>%{fullData.name}: $%{y:,.2f}<extra></extra>")
            for source in known + [s for s in wide.columns if s not in PRICE_SOURCE_LABELS]]
    layout.update(barmode="stack", bargap=0.15, xaxis=axis("Day (UTC)"),
                  yaxis=axis("GPU cost (USD per day)", tickprefix="$", tickformat=",.0f", rangemode="tozero"))
    return figure(data, layout)
