"""Fragmentation page ("/fragmentation"): free GPU capacity, the part of it no common
request shape can use (stranded) and the FGD fragmentation measure, over time and per node,
with what the stranded capacity cost.

Data: ``data.fragmentation`` on the ``fragmentation`` table. Team and namespace filters do
not apply (free capacity belongs to no team).
"""

from __future__ import annotations

import dash
import dash_ag_grid as dag
from dash import Input, Output, html

from gpucost.dashboard import figures_fragmentation, formatting as fmt
from gpucost.dashboard.app import current_settings
from gpucost.dashboard.components import (CONTENT_STYLE, HIDDEN, MESSAGE_STYLE, MUTED, PANEL_STYLE, card,
                                          empty_message, graph, page_header)
from gpucost.dashboard.data import fragmentation as data
from gpucost.dashboard.pagekit import PageDataError, read

dash.register_page(__name__, path="/fragmentation", name="Fragmentation",
                   title="GPU fragmentation · gpucost", order=5)


def _fmt(spec: str, prefix: str = "") -> dict:
    return {"function": f"params.value == null ? '' : '{prefix}' + d3.format('{spec}')(params.value)"}


NUMBER = {"type": "rightAligned"}
NODE_COLUMNS = [
    {"field": "node", "headerName": "Node", "minWidth": 220},
    {"field": "instance_type", "headerName": "Instance type", "minWidth": 140},
    {"field": "gpu_model", "headerName": "GPU model", "minWidth": 170},
    {"field": "gpu_count", "headerName": "GPUs", **NUMBER},
    {"field": "free_gpus", "headerName": "Free GPUs (mean)", "valueFormatter": _fmt(",.2f"), **NUMBER},
    {"field": "stranded_gpus", "headerName": "Stranded GPUs (mean)", "valueFormatter": _fmt(",.2f"), **NUMBER},
    {"field": "stranded_reason", "headerName": "Mostly stranded by"},
    {"field": "frag_gpus", "headerName": "FGD fragmentation (GPUs)", "valueFormatter": _fmt(",.2f"), **NUMBER},
    {"field": "nvlink_free_block", "headerName": "Free NVLink block (mean GPUs)", "valueFormatter": _fmt(",.1f"),
     **NUMBER},
    {"field": "stranded_cost_usd", "headerName": "Stranded cost (USD)", "valueFormatter": _fmt(",.2f", "$"),
     **NUMBER},
    {"field": "free_cost_usd", "headerName": "Free cost (USD)", "valueFormatter": _fmt(",.2f", "$"), **NUMBER},
]


def layout(**_query) -> html.Div:
    return html.Div([
        *page_header("GPU fragmentation", "frag-window"),
        html.Div(id="frag-message", style=HIDDEN),
        html.Div(id="frag-cards", style={"display": "flex", "gap": "16px", "flexWrap": "wrap", "marginTop": "12px"}),
        html.Div(id="frag-figures"),
        html.Div([
            html.Div("Nodes with free GPUs, most stranded cost first", style={"fontWeight": "600", "padding": "6px 4px"}),
            html.Div("Stranded: free, but none of the requests common on this GPU model fits (too few free "
                     "GPUs, or the node's CPU or memory is taken). Team and namespace filters do not apply.",
                     style={**MUTED, "padding": "0 4px 6px"}),
            dag.AgGrid(id="frag-nodes", columnDefs=NODE_COLUMNS, rowData=[],
                       defaultColDef={"sortable": True, "resizable": True, "filter": True, "minWidth": 110,
                                      "wrapHeaderText": True, "autoHeaderHeight": True},
                       columnSize="responsiveSizeToFit", className="ag-theme-quartz",
                       dashGridOptions={"pagination": True, "paginationPageSize": 20, "domLayout": "autoHeight"},
                       style={"width": "100%"}),
        ], style=PANEL_STYLE),
    ], style=CONTENT_STYLE)


def _cards(v: data.FragmentationView) -> list:
    t = v.totals
    share = t["stranded_cost_usd"] / t["free_cost_usd"] if t["free_cost_usd"] else None
    return [
        card("card-free", "Free GPUs (mean)", f"{t['free_gpus']:,.1f}", f"of {t['gpus']:,.0f} GPUs on GPU nodes"),
        card("card-stranded", "Stranded GPUs (mean)", f"{t['stranded_gpus']:,.1f}",
             "free, but no common request fits"),
        card("card-stranded-cost", "Stranded cost (USD)", fmt.usd(t["stranded_cost_usd"]),
             f"{fmt.share(share)} of the free capacity's {fmt.usd(t['free_cost_usd'])}"),
        card("card-frag", "FGD fragmentation (GPUs)", f"{t['frag_gpus']:,.1f}",
             "free capacity the request mix cannot use, expected"),
    ]


@dash.get_app().callback(
    Output("frag-window", "children"),
    Output("frag-message", "children"),
    Output("frag-message", "style"),
    Output("frag-cards", "children"),
    Output("frag-figures", "children"),
    Output("frag-nodes", "rowData"),
    Input("url", "search"),
)
def load(search):
    try:
        filters, v = read(current_settings(), search, data.load, cache_key="fragmentation")
    except PageDataError as exc:
        return "Warehouse unavailable", str(exc), MESSAGE_STYLE, [], [], []
    subtitle = f"Window: {fmt.window(v.window.start, v.window.end, 0)} · GPUs are means over the window"
    if v.empty:
        return subtitle, empty_message(filters), MESSAGE_STYLE, [], [], []
    nodes = v.nodes.astype(object).where(v.nodes.notna(), None).to_dict("records")
    return (subtitle, None, HIDDEN, _cards(v),
            [graph("frag-over-time", figures_fragmentation.free_capacity_over_time(v.series, v.bucket_hours))], nodes)
