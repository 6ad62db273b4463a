"""Recommendations page ("/recommendations"): what to change, with the monthly saving of each,
its confidence and whether a reviewable Kubernetes patch exists (`gpucost recommend --format
yaml` exports them). One card per kind with its total, then every recommendation in a grid.

Data: ``data.recommendations`` on the ``recommendations`` table, read-only from the snapshot.
Cluster, team and namespace filters apply; the dates do not (the rows carry their window).
"""

from __future__ import annotations

import dash
import dash_ag_grid as dag
from dash import Input, Output, html

from gpucost.dashboard import formatting as fmt
from gpucost.dashboard.app import current_settings
from gpucost.dashboard.components import CONTENT_STYLE, HIDDEN, MESSAGE_STYLE, MUTED, PANEL_STYLE, card, page_header
from gpucost.dashboard.data import recommendations as data
from gpucost.dashboard.pagekit import PageDataError, read

dash.register_page(__name__, path="/recommendations", name="Recommendations",
                   title="GPU cost recommendations · gpucost", order=6)

EMPTY = ("No recommendations yet. Run `gpucost recommend` (or `gpucost demo`) to compute them "
         "from the built data.")


def _fmt(spec: str, prefix: str = "") -> dict:
    return {"function": f"params.value == null ? '' : '{prefix}' + d3.format('{spec}')(params.value)"}


NUMBER = {"type": "rightAligned", "filter": "agNumberColumnFilter"}
COLUMNS = [
    {"field": "kind", "headerName": "Kind", "minWidth": 140},
    {"field": "target", "headerName": "Target", "minWidth": 240, "tooltipField": "target"},
    {"field": "team", "headerName": "Team"},
    {"field": "monthly_savings_usd", "headerName": "Saving (USD / month)", "minWidth": 140, "valueFormatter": _fmt(",.2f", "$"),
     "sort": "desc", **NUMBER},
    {"field": "gpu_hours_saved", "headerName": "GPU-hours saved (window)", "valueFormatter": _fmt(",.1f"),
     **NUMBER},
    {"field": "confidence", "headerName": "Confidence", "minWidth": 120},
    {"field": "has_patch", "headerName": "Patch", "minWidth": 90},
    {"field": "action", "headerName": "Action", "minWidth": 420, "tooltipField": "action"},
    {"field": "id", "headerName": "Id", "hide": True},
]


def layout(**_query) -> html.Div:
    return html.Div([
        *page_header("GPU cost recommendations", "recs-window"),
        html.Div(id="recs-message", style=HIDDEN),
        html.Div(id="recs-cards", style={"display": "flex", "gap": "16px", "flexWrap": "wrap", "marginTop": "12px"}),
        html.Div([
            html.Div("Every recommendation, largest saving first", style={"fontWeight": "600", "padding": "6px 4px"}),
            html.Div("Savings are per 30-day month at the window's rate; a GPU-hour saved by one recommendation "
                     "is never counted again by another, so they add up.", style={**MUTED, "padding": "0 4px 6px"}),
            dag.AgGrid(id="recs-grid", columnDefs=COLUMNS, rowData=[],
                       defaultColDef={"sortable": True, "resizable": True, "filter": True, "minWidth": 110,
                                      "wrapHeaderText": True, "autoHeaderHeight": True},
                       columnSize="responsiveSizeToFit", className="ag-theme-quartz", getRowId="params.data.id",
                       dashGridOptions={"pagination": True, "paginationPageSize": 20, "domLayout": "autoHeight",
                                        "enableCellTextSelection": True},
                       style={"width": "100%"}),
        ], style=PANEL_STYLE),
    ], style=CONTENT_STYLE)


def _cards(v: data.RecommendationsView) -> list:
    total = v.by_kind["monthly_savings_usd"].sum()
    cards = [card("recs-total", "Total saving", f"{fmt.usd(total)}/mo", f"{len(v.rows):,} recommendations")]
    for row in v.by_kind.itertuples():
        cards.append(card(f"recs-{row.kind}", row.kind, f"{fmt.usd(row.monthly_savings_usd)}/mo",
                          f"{row.recommendations:,} · {row.gpu_hours_saved:,.0f} GPU-h saved in the window"))
    return cards


@dash.get_app().callback(
    Output("recs-window", "children"),
    Output("recs-message", "children"),
    Output("recs-message", "style"),
    Output("recs-cards", "children"),
    Output("recs-grid", "rowData"),
    Input("url", "search"),
)
def load(search):
    try:
        _, v = read(current_settings(), search, data.load, cache_key="recommendations")
    except PageDataError as exc:
        return "Warehouse unavailable", str(exc), MESSAGE_STYLE, [], []
    if v.empty:
        return "No recommendations", EMPTY, MESSAGE_STYLE, [], []
    subtitle = f"Computed on {fmt.window(v.window_start, v.window_end, 0)}"
    rows = v.rows.drop(columns=["window_start", "window_end"])
    rows = rows.assign(has_patch=rows["has_patch"].map({True: "yes", False: "no"}))
    return subtitle, None, HIDDEN, _cards(v), rows.astype(object).where(rows.notna(), None).to_dict("records")
