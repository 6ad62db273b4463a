"""Teams page ("/teams"): showback / chargeback per team, under an idle policy switch.

- Idle kept separate: each team pays the GPUs its workloads held (active + allocated idle +
  held without telemetry); unallocated GPUs stay on their own "no team" rows.
- Idle shared back: each day's unallocated (and unheld no-telemetry) cost is added to the
  teams pro rata to their allocated cost that day.
The rows add up to the window's GPU spend under both. Data: ``data.teams`` on usage_hourly,
``chargeback`` for the policy.
"""

from __future__ import annotations

import dash
import dash_ag_grid as dag
from dash import Input, Output, dcc, html

from gpucost.dashboard import chargeback, figures_costs, formatting as fmt
from gpucost.dashboard.app import current_settings
from gpucost.dashboard.components import (CONTENT_STYLE, HIDDEN, LABEL_STYLE, MESSAGE_STYLE, MUTED,
                                          PANEL_STYLE, empty_message, graph, page_header)
from gpucost.dashboard.data import teams as data
from gpucost.dashboard.data.common import resolve_window
from gpucost.dashboard.pagekit import PageDataError, read

dash.register_page(__name__, path="/teams", name="Teams", title="GPU cost per team · gpucost", order=3)


def _money() -> dict:
    return {"function": "params.value == null ? '' : d3.format('$,.2f')(params.value)"}


NUMBER = {"type": "rightAligned", "filter": "agNumberColumnFilter"}
COLUMNS = [
    {"field": "team", "headerName": "Team", "pinned": "left", "minWidth": 270},
    {"field": "charge_usd", "headerName": "Charge (USD)", "valueFormatter": _money(), **NUMBER},
    {"field": "charge_share_pct", "headerName": "Share (%)",
     "valueFormatter": {"function": "params.value == null ? '' : d3.format(',.1f')(params.value) + ' %'"}, **NUMBER},
    {"field": "active_usd", "headerName": "Active (USD)", "valueFormatter": _money(), **NUMBER},
    {"field": "idle_usd", "headerName": "Idle (USD)", "headerTooltip": "Allocated but idle", "valueFormatter": _money(),
     **NUMBER},
    {"field": "held_no_data_usd", "headerName": "No data (USD)", "headerTooltip": "Held without telemetry",
     "valueFormatter": _money(), **NUMBER},
    {"field": "shared_idle_usd", "headerName": "Shared idle (USD)", "valueFormatter": _money(), **NUMBER},
    {"field": "gpu_hours", "headerName": "GPU-hours",
     "valueFormatter": {"function": "params.value == null ? '' : d3.format(',.1f')(params.value)"}, **NUMBER},
    {"field": "util_pct", "headerName": "Util (%)",
     "valueFormatter": {"function": "params.value == null ? '' : d3.format(',.1f')(params.value) + ' %'"}, **NUMBER},
    {"field": "jobs", "headerName": "Job-days", **NUMBER},
]


def layout(**_query) -> html.Div:
    return html.Div([
        *page_header("GPU cost per team", "teams-window"),
        html.Div([
            html.Div("Idle policy", style=LABEL_STYLE),
            dcc.RadioItems(id="teams-policy", value="separate", inline=True,
                           options=[{"label": label, "value": value}
                                    for value, label in chargeback.POLICY_LABELS.items()],
                           inputStyle={"marginRight": "6px"}, labelStyle={"marginRight": "24px"}),
            html.Div(id="teams-policy-note", style={**MUTED, "marginTop": "4px"}),
        ], style={**PANEL_STYLE, "padding": "12px 16px"}),
        html.Div(id="teams-message", style=HIDDEN),
        html.Div(id="teams-chart"),
        html.Div(dag.AgGrid(id="teams-grid", columnDefs=COLUMNS, rowData=[],
                            defaultColDef={"sortable": True, "resizable": True, "minWidth": 105,
                                           "useValueFormatterForExport": False, "wrapHeaderText": True,
                                           "autoHeaderHeight": True},
                            columnSize="responsiveSizeToFit", className="ag-theme-quartz",
                            dashGridOptions={"domLayout": "autoHeight"},
                            style={"width": "100%"}),
                 style=PANEL_STYLE),
        html.Div(id="teams-daily"),
    ], style=CONTENT_STYLE)


NOTES = {
    "separate": "Each team pays for the GPUs its workloads held: active, allocated idle and held without "
                "telemetry. Unallocated GPUs stay on their own rows, charged to no team.",
    "shared": "Each day's unallocated cost (and that of GPUs without telemetry nobody held) is shared "
              "between the teams pro rata to their allocated cost that day.",
}


@dash.get_app().callback(
    Output("teams-window", "children"),
    Output("teams-policy-note", "children"),
    Output("teams-message", "children"),
    Output("teams-message", "style"),
    Output("teams-chart", "children"),
    Output("teams-grid", "rowData"),
    Output("teams-daily", "children"),
    Input("url", "search"),
    Input("teams-policy", "value"),
)
def load(search, policy):
    policy = policy if policy in chargeback.POLICIES else "separate"

    def _read(con, filters):
        window = resolve_window(con, filters)
        return window, data.team_daily(con, filters, window), data.pool_daily(con, filters, window)

    try:
        filters, (window, team_daily, pool_daily) = read(current_settings(), search, _read, cache_key="teams")
    except PageDataError as exc:
        return "Warehouse unavailable", NOTES[policy], str(exc), MESSAGE_STYLE, [], [], []
    subtitle = f"Window: {fmt.window(window.start, window.end, 0)}"
    if team_daily.empty and (pool_daily.empty or filters.holders_only):
        return subtitle, NOTES[policy], empty_message(filters), MESSAGE_STYLE, [], [], []
    table = chargeback.chargeback(team_daily, pool_daily, policy,
                                  include_platform_rows=not filters.holders_only)
    daily = chargeback.daily_charges(team_daily, pool_daily, policy)
    note = NOTES[policy]
    if filters.holders_only:
        note += " A team or namespace filter is set: rows of no team are hidden."
    rows = table.assign(charge_share_pct=table["charge_share"] * 100.0)
    if policy == "separate":
        rows["shared_idle_usd"] = None
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    return (subtitle, note, None, HIDDEN,
            graph("teams-chargeback", figures_costs.team_chargeback(table, policy)), records,
            graph("teams-daily-chart", figures_costs.team_charge_over_time(daily)))
