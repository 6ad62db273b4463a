"""Prices page ("/prices"): spot against on-demand prices per instance type and availability
zone over time (raw_prices), what the fleet paid on average per capacity type, and which
price source priced the GPU cost (asset_costs).

Cluster and GPU-model filters pick the instance types (those of the fleet's GPU devices);
team and namespace filters do not apply to prices. Data: ``data.prices``.
"""

from __future__ import annotations

import dash
import dash_ag_grid as dag
from dash import Input, Output, State, dcc, html, no_update

from gpucost.dashboard import figures_costs, formatting as fmt
from gpucost.dashboard.app import current_settings
from gpucost.dashboard.components import (CONTENT_STYLE, HIDDEN, LABEL_STYLE, MESSAGE_STYLE, MUTED, PANEL_STYLE,
                                          graph, page_header)
from gpucost.dashboard.data import prices as data
from gpucost.dashboard.data.common import resolve_window
from gpucost.dashboard.pagekit import PageDataError, read

dash.register_page(__name__, path="/prices", name="Prices", title="GPU prices · gpucost", order=4)

MAX_TYPES = 6


def _fmt(spec: str, prefix: str = "", suffix: str = "") -> dict:
    return {"function": f"params.value == null ? '' : '{prefix}' + d3.format('{spec}')(params.value) + '{suffix}'"}


NUMBER = {"type": "rightAligned"}
EFFECTIVE_COLUMNS = [
    {"field": "instance_type", "headerName": "Instance type", "minWidth": 150},
    {"field": "capacity_type", "headerName": "Capacity"},
    {"field": "node_hours", "headerName": "Node-hours", "valueFormatter": _fmt(",.1f"), **NUMBER},
    {"field": "usd_per_hour", "headerName": "Paid (USD/h)", "valueFormatter": _fmt(",.4f", "$"), **NUMBER},
    {"field": "on_demand_usd_per_hour", "headerName": "On-demand (USD/h)", "valueFormatter": _fmt(",.4f", "$"),
     **NUMBER},
    {"field": "discount_pct", "headerName": "Below on-demand (%)", "valueFormatter": _fmt(",.1f", "", " %"),
     **NUMBER},
    {"field": "cost_usd", "headerName": "Node cost (USD)", "valueFormatter": _fmt(",.2f", "$"), **NUMBER},
]


def layout(**_query) -> html.Div:
    return html.Div([
        *page_header("GPU instance prices", "prices-window"),
        html.Div(id="prices-message", style=HIDDEN),
        html.Div([
            html.Div("Instance types (at most 6 charts)", style=LABEL_STYLE),
            dcc.Dropdown(id="prices-types", multi=True, placeholder="Pick instance types",
                         style={"fontSize": "14px"}),
            html.Div("Team and namespace filters do not apply to prices.", style={**MUTED, "marginTop": "4px"}),
        ], style={**PANEL_STYLE, "padding": "12px 16px"}),
        html.Div(id="prices-history"),
        html.Div([
            html.Div("What the fleet paid per instance-hour", style={"fontWeight": "600", "padding": "6px 4px"}),
            dag.AgGrid(id="prices-effective", columnDefs=EFFECTIVE_COLUMNS, rowData=[],
                       defaultColDef={"sortable": True, "resizable": True, "minWidth": 110,
                                      "wrapHeaderText": True, "autoHeaderHeight": True},
                       columnSize="responsiveSizeToFit", className="ag-theme-quartz",
                       dashGridOptions={"domLayout": "autoHeight"}, style={"width": "100%"}),
        ], style=PANEL_STYLE),
        html.Div(id="prices-sources"),
    ], style=CONTENT_STYLE)


def _effective_rows(effective, on_demand) -> list[dict]:
    if effective.empty:
        return []
    od = on_demand.rename(columns={"usd_per_hour": "on_demand_usd_per_hour"})[["instance_type",
                                                                                "on_demand_usd_per_hour"]]
    df = effective.merge(od, on="instance_type", how="left")
    df["discount_pct"] = (1 - df["usd_per_hour"] / df["on_demand_usd_per_hour"]) * 100.0
    return df.astype(object).where(df.notna(), None).to_dict("records")


@dash.get_app().callback(
    Output("prices-window", "children"),
    Output("prices-message", "children"),
    Output("prices-message", "style"),
    Output("prices-types", "options"),
    Output("prices-types", "value"),
    Output("prices-effective", "rowData"),
    Output("prices-sources", "children"),
    Input("url", "search"),
)
def load(search):
    def _read(con, filters):
        window = resolve_window(con, filters)
        types = data.instance_types(con, filters)
        names = list(types["instance_type"])
        on_demand = data.on_demand_reference(con, names, window)
        return (window, types, data.effective_prices(con, filters, names, window), on_demand,
                data.source_mix(con, filters, names, window))

    try:
        filters, (window, types, effective, on_demand, mix) = read(current_settings(), search, _read,
                                                                       cache_key="prices")
    except PageDataError as exc:
        return "Warehouse unavailable", str(exc), MESSAGE_STYLE, [], [], [], []
    subtitle = f"Window: {fmt.window(window.start, window.end, 0)} · prices in USD per instance-hour"
    if types.empty:
        return subtitle, "No GPU instance types match these filters.", MESSAGE_STYLE, [], [], [], []
    options = [{"label": f"{r.instance_type} ({r.gpu_model or 'unknown GPU'}, {r.nodes} node{'s' if r.nodes != 1 else ''})",
                "value": r.instance_type} for r in types.itertuples(index=False)]
    # Default: the types run on spot that cost the most (else the most costly types).
    ranked = (effective.assign(spot=effective["capacity_type"] == "spot")
              .groupby("instance_type").agg(spot=("spot", "max"), cost_usd=("cost_usd", "sum"))
              .sort_values("cost_usd", ascending=False))
    spot = ranked[ranked["spot"]]
    chosen = list((spot if not spot.empty else ranked).index[:4]) or list(types["instance_type"][:4])
    return (subtitle, None, HIDDEN, options, chosen, _effective_rows(effective, on_demand),
            graph("prices-sources-chart", figures_costs.price_source_mix(mix)))


@dash.get_app().callback(
    Output("prices-history", "children"),
    Input("prices-types", "value"),
    State("url", "search"),
)
def history(types, search):
    types = [str(t) for t in (types or [])][:MAX_TYPES]
    if not types:
        return graph("prices-history-chart",
                     figures_costs.price_history(data.empty_history(), data.empty_on_demand()))

    def _read(con, filters):
        window = resolve_window(con, filters)
        return window, data.history(con, types, window), data.on_demand_reference(con, types, window)

    try:
        _, (window, hist, od) = read(current_settings(), search, _read)
    except PageDataError:
        return no_update
    return graph("prices-history-chart", figures_costs.price_history(hist, od, end=window.end, max_types=MAX_TYPES))
