"""Utilisation page ("/utilisation"): which GPUs work and which sit idle, over time.

- a heatmap of utilisation per GPU (or per node, for large fleets) and time bucket;
- the mean number of GPUs in each state over time;
- a drill-down into one GPU's DCGM series (utilisation, memory, power): pick it in the list
  or click a heatmap cell.
Data: ``data.utilisation`` on usage_hourly (one device's steps for windows up to 48 h).
"""

from __future__ import annotations

import json

import dash
from dash import Input, Output, State, dcc, html, no_update

from gpucost.dashboard import figures_usage, formatting as fmt
from gpucost.dashboard.app import current_settings
from gpucost.dashboard.components import (CONTENT_STYLE, GRAPH_CONFIG, HIDDEN, LABEL_STYLE, MESSAGE_STYLE,
                                          PANEL_STYLE, empty_message, graph, page_header)
from gpucost.dashboard.data import overview as overview_data
from gpucost.dashboard.data import utilisation as data
from gpucost.dashboard.data.common import bucket_hours_for, resolve_window
from gpucost.dashboard.pagekit import PageDataError, read

SERIES_HEIGHT = 560

dash.register_page(__name__, path="/utilisation", name="Utilisation",
                   title="GPU utilisation · gpucost", order=1)


def layout(**_query) -> html.Div:
    return html.Div([
        *page_header("GPU utilisation", "util-window"),
        html.Div(id="util-message", style=HIDDEN),
        dcc.Store(id="util-row-device"),
        # Graphs are created by the callback with their data: a graph first drawn empty or
        # hidden keeps a wrong size.
        html.Div(id="util-figures"),
        html.Div(id="util-states-box"),   # its own callback: runs in parallel with the heatmap's
        html.Div([
            html.Div([
                html.Div("GPU for the drill-down (or click a heatmap cell)", style=LABEL_STYLE),
                dcc.Dropdown(id="util-device", clearable=False, placeholder="Pick a GPU",
                             style={"fontSize": "14px"}),
            ], style={"maxWidth": "720px", "padding": "8px 4px"}),
            dcc.Graph(id="util-series", config=GRAPH_CONFIG, style={"height": f"{SERIES_HEIGHT}px"},
                      figure=figures_usage.gpu_series(data.empty_series(), "No GPU selected", "hour")),
        ], style=PANEL_STYLE),
    ], style=CONTENT_STYLE)


def _device_label(r) -> str:
    label = f"{r.node} · GPU {'' if r.gpu_index is None or r.gpu_index != r.gpu_index else int(r.gpu_index)}"
    if isinstance(r.mig_profile, str) and r.mig_profile:
        label += f" · {r.mig_profile} #{str(r.device_id).rsplit('/', 1)[-1]}"
    return f"{label} — util {fmt.pct(r.util_pct)}"


def _load(con, filters):
    window = resolve_window(con, filters)
    devices = data.devices(con, filters, window)
    heat = data.heatmap(con, filters, window, devices)
    return window, devices, heat


@dash.get_app().callback(
    Output("util-window", "children"),
    Output("util-message", "children"),
    Output("util-message", "style"),
    Output("util-figures", "children"),
    Output("util-device", "options"),
    Output("util-device", "value"),
    Output("util-row-device", "data"),
    Input("url", "search"),
    State("util-device", "value"),
)
def load(search, current_device):
    settings = current_settings()
    nothing = ([], no_update, no_update, no_update)
    try:
        filters, (window, devices, heat) = read(settings, search, _load,
                                                                           cache_key="utilisation")
    except PageDataError as exc:
        return "Warehouse unavailable", str(exc), MESSAGE_STYLE, *nothing
    subtitle = f"Window: {fmt.window(window.start, window.end, 0)}"
    if devices.empty:
        return subtitle, empty_message(filters), MESSAGE_STYLE, *nothing
    devices = devices.assign(value=[json.dumps([c, d]) for c, d in zip(devices["cluster"], devices["device_id"])])
    options = [{"label": _device_label(r), "value": r.value} for r in devices.itertuples(index=False)]
    if current_device not in set(devices["value"]):
        # the GPU that wasted the most while allocated (most allocated-idle USD)
        ranked = devices.sort_values(["idle_cost_usd", "cluster", "device_id"], ascending=[False, True, True])
        current_device = ranked.iloc[0]["value"]
    # Heatmap row label -> device to drill into: the GPU itself, or a node's least utilised GPU.
    ranked = devices.sort_values(["util_pct", "device_id"], na_position="last")
    keys = ranked["cluster"] + "/" + (ranked["device_id"] if heat.level == "gpu" else ranked["node"])
    by_key = ranked.assign(row_key=keys).groupby("row_key")["value"].first()
    row_device = {label: by_key.get(key) for key, label in
                  figures_usage.heatmap_row_labels(heat.cells, heat.level).items()} if not heat.cells.empty else {}
    return (subtitle, None, HIDDEN,
            [graph("util-heatmap", figures_usage.util_heatmap(heat.cells, heat.level, heat.bucket_hours,
                                                              heat.total_rows))],
            options, current_device, row_device)


@dash.get_app().callback(
    Output("util-states-box", "children"),
    Input("url", "search"),
)
def states(search):
    """GPUs per state over time, in the heatmap's time buckets."""
    def _read(con, filters):
        window = resolve_window(con, filters)
        hours = bucket_hours_for(window)
        return hours, overview_data.over_time(con, filters, window, hours)

    try:
        _, (hours, series) = read(current_settings(), search, _read, cache_key="utilisation-states")
    except PageDataError:
        return []   # the heatmap's callback shows the cause
    if series.empty:
        return []
    return [graph("util-states", figures_usage.gpus_by_state_over_time(series, hours))]


@dash.get_app().callback(
    Output("util-device", "value", allow_duplicate=True),
    Input("util-heatmap", "clickData"),
    State("util-row-device", "data"),
    prevent_initial_call=True,
)
def pick_from_heatmap(click, row_device):
    try:
        key = click["points"][0]["y"]
    except (TypeError, KeyError, IndexError):
        return no_update
    return (row_device or {}).get(key, no_update)


@dash.get_app().callback(
    Output("util-series", "figure"),
    Input("util-device", "value"),
    State("url", "search"),
    State("util-device", "options"),
)
def drill_down(device, search, options):
    try:
        cluster, device_id = json.loads(device)
        cluster, device_id = str(cluster), str(device_id)
    except (TypeError, ValueError):
        return figures_usage.gpu_series(data.empty_series(), "No GPU selected", "hour")
    label = next((o["label"].split(" — ")[0] for o in options or [] if o["value"] == device), device_id)
    try:
        _, (series, resolution) = read(
            current_settings(), search,
            lambda con, f: data.device_series(con, cluster, device_id, resolve_window(con, f)))
    except PageDataError as exc:
        return figures_usage.gpu_series(data.empty_series(), str(exc), "hour")
    return figures_usage.gpu_series(series, label, resolution)
