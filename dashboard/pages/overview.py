"""Overview page ("/"): what the GPUs cost over the warehouse's data window, and how much
of it was idle or unallocated.

The layout is an empty skeleton; the data is read in ``load`` (a callback fired when the
page's dcc.Location renders), through ``queries.load_overview`` with the app's settings.
"""

from __future__ import annotations

import dash
from dash import Input, Output, dcc, html

from gpucost.dashboard import figures, formatting as fmt
from gpucost.dashboard.app import current_settings
from gpucost.dashboard.queries import load_overview
from gpucost.errors import GpucostError

dash.register_page(__name__, path="/", name="Overview", title="GPU cost overview · gpucost", order=0)

EMPTY_MESSAGE = ("The warehouse has no GPU usage yet (gpu_usage is empty). "
                 "Load data with `gpucost demo` or a collector, then run `gpucost build`.")

CONTENT_STYLE = {"maxWidth": "1200px", "margin": "0 auto", "padding": "16px 24px 40px"}
CARD_STYLE = {
    "flex": "1 1 220px", "background": "white", "borderRadius": "8px", "padding": "14px 18px",
    "boxShadow": "0 1px 3px rgba(0,0,0,0.12)", "minWidth": "200px",
}
PANEL_STYLE = {"background": "white", "borderRadius": "8px", "padding": "8px 12px",
               "boxShadow": "0 1px 3px rgba(0,0,0,0.12)", "marginTop": "16px"}
MESSAGE_STYLE = {"background": "#fff8e1", "border": "1px solid #f0c36d", "borderRadius": "8px",
                 "padding": "12px 16px", "marginTop": "16px"}
HIDDEN = {"display": "none"}
GRAPH_CONFIG = {"displaylogo": False}


def _card(card_id: str, label: str, value: str, note: str) -> html.Div:
    return html.Div([
        html.Div(label, style={"fontSize": "13px", "color": "#52606d", "textTransform": "uppercase",
                               "letterSpacing": "0.04em"}),
        html.Div(value, id=f"{card_id}-value",
                 style={"fontSize": "28px", "fontWeight": "700", "margin": "4px 0"}),
        html.Div(note, style={"fontSize": "13px", "color": "#52606d"}),
    ], id=card_id, className="headline-card", style=CARD_STYLE)


def _graph(graph_id: str, figure) -> html.Div:
    return html.Div(dcc.Graph(id=graph_id, figure=figure, config=GRAPH_CONFIG), style=PANEL_STYLE)


def layout(**_query) -> html.Div:
    return html.Div([
        dcc.Location(id="overview-url", refresh=False),
        html.H1("GPU cost overview", style={"fontSize": "26px", "margin": "8px 0 2px"}),
        html.Div("Loading…", id="overview-window", style={"color": "#52606d", "fontSize": "14px"}),
        html.Div(id="overview-message", style=HIDDEN),
        dcc.Loading(html.Div(id="overview-cards",
                             style={"display": "flex", "flexWrap": "wrap", "gap": "16px",
                                    "marginTop": "16px"}),
                    type="dot"),
        # Graphs are created by the callback, once there is data: a graph drawn inside a
        # hidden container would be laid out at zero width.
        html.Div(id="overview-figures"),
    ], style=CONTENT_STYLE)


def _cards(head, by_state) -> list[html.Div]:
    row = head.iloc[0]
    hours = by_state.set_index("state")["gpu_hours"]
    allocated = float(hours.get("active", 0.0) + hours.get("allocated_idle", 0.0))
    return [
        _card("card-spend", "Spend (USD)", fmt.usd(row["spend_usd"]),
              f"{fmt.usd(row['no_data_usd'])} of it without telemetry"),
        _card("card-gpu-hours", "GPU-hours", fmt.gpu_hours(row["gpu_hours"]),
              f"{fmt.gpu_hours(allocated)} allocated to workloads"),
        _card("card-utilisation", "Utilisation (%)", fmt.pct(row["util_pct"]),
              "GPU-hour-weighted, allocated GPUs"),
        _card("card-idle", "Idle + unallocated (USD)", fmt.usd(row["idle_unallocated_usd"]),
              f"{fmt.share(row['idle_unallocated_share'])} of spend · idle "
              f"{fmt.usd(row['allocated_idle_usd'])}, unallocated {fmt.usd(row['unallocated_usd'])}"),
    ]


# Registered on the app being built (pages are imported inside Dash(...)), not with the
# global dash.callback list, which the first app to serve a request would take for itself.
@dash.get_app().callback(
    Output("overview-window", "children"),
    Output("overview-message", "children"),
    Output("overview-message", "style"),
    Output("overview-cards", "children"),
    Output("overview-figures", "children"),
    Input("overview-url", "pathname"),
)
def load(_pathname):
    """Read the overview with the serving app's settings; never raises for a missing,
    locked or outdated warehouse (shows the cause instead)."""
    settings = current_settings()
    try:
        data = load_overview(settings)
    except GpucostError as exc:
        return ("Warehouse unavailable", f"Cannot read the warehouse: {exc}", MESSAGE_STYLE,
                [], [])
    if data.empty:
        return (f"Warehouse: {settings.db}", EMPTY_MESSAGE, MESSAGE_STYLE, [], [])
    head = data.headline
    window = fmt.window(head["first_ts"].iloc[0], head["last_ts"].iloc[0], settings.step_seconds)
    return (
        f"Data window: {window} · warehouse {settings.db}",
        None, HIDDEN,
        _cards(head, data.by_state),
        [_graph("overview-spend-by-state", figures.spend_by_state_over_time(data.over_time, data.bucket)),
         _graph("overview-cost-by-team", figures.cost_by_team(data.by_team))],
    )
