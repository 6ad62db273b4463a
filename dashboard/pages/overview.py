"""Overview page ("/"): what the GPUs cost in the filtered window, how much of it was idle or
unallocated, how that changed from the previous period and week over week, and who spent it.

The layout is an empty skeleton; ``load`` reads usage_hourly (``data.overview``) when the
URL's filters change.
"""

from __future__ import annotations

import dash
from dash import Input, Output, html

from gpucost.dashboard import figures, figures_usage, formatting as fmt
from gpucost.dashboard.app import current_settings
from gpucost.dashboard.components import (CONTENT_STYLE, HIDDEN, MESSAGE_STYLE, card, empty_message,
                                          graph, page_header)
from gpucost.dashboard.data import overview as data
from gpucost.dashboard.data.common import resolve_window
from gpucost.dashboard.pagekit import PageDataError, read, span_label

dash.register_page(__name__, path="/", name="Overview", title="GPU cost overview · gpucost", order=0)


def layout(**_query) -> html.Div:
    return html.Div([
        *page_header("GPU cost overview", "overview-window"),
        html.Div(id="overview-message", style=HIDDEN),
        html.Div(id="overview-cards", style={"display": "flex", "flexWrap": "wrap", "gap": "16px",
                                             "marginTop": "16px"}),
        # Graphs are created by the callback, once there is data: a graph drawn inside a
        # hidden container would be laid out at zero width.
        html.Div(id="overview-figures"),
        html.Div(id="overview-team-box"),   # its own callback, in parallel with the one above
    ], style=CONTENT_STYLE)


def _delta(current: float, previous: float | None, label: str, lower_is_better: bool | None,
           points: bool = False) -> tuple[str | None, bool | None]:
    if previous is None or fmt._missing(previous) or fmt._missing(current):
        return f"no data for the previous {label}", None
    if points:
        change = current - previous
        good = None if lower_is_better is None or abs(change) < 0.05 else (change < 0) == lower_is_better
        return f"{change:+.1f} points vs previous {label}", good
    if previous == 0:
        return f"previous {label}: {fmt.usd(previous)}", None
    change = current / previous - 1
    good = None if lower_is_better is None or abs(change) < 0.0005 else (change < 0) == lower_is_better
    return f"{change:+.1%} vs previous {label}", good


def _cards(d: data.OverviewData) -> list[html.Div]:
    cur, prev = d.period("current"), d.period("previous")
    label = span_label(d.window.hours)
    p = (lambda col: None if prev is None else prev[col])  # noqa: E731
    spend_delta = _delta(cur["spend_usd"], p("spend_usd"), label, None)
    hours_delta = _delta(cur["gpu_hours"], p("gpu_hours"), label, None)
    util_delta = _delta(cur["util_pct"], p("util_pct"), label, False, points=True)
    idle_delta = _delta(cur["idle_unallocated_usd"], p("idle_unallocated_usd"), label, True)
    return [
        card("card-spend", "Spend (USD)", fmt.usd(cur["spend_usd"]),
             f"{fmt.usd(cur['no_data_usd'])} of it without telemetry", *spend_delta),
        card("card-gpu-hours", "GPU-hours", fmt.gpu_hours(cur["gpu_hours"]),
             f"{fmt.gpu_hours(cur['allocated_gpu_hours'])} allocated to workloads", *hours_delta),
        card("card-utilisation", "Utilisation (%)", fmt.pct(cur["util_pct"]),
             "GPU-hour-weighted, allocated GPUs", *util_delta),
        card("card-idle", "Idle + unallocated (USD)", fmt.usd(cur["idle_unallocated_usd"]),
             f"{fmt.share(cur['idle_unallocated_share'])} of spend · idle "
             f"{fmt.usd(cur['allocated_idle_usd'])}, unallocated {fmt.usd(cur['unallocated_usd'])}",
             *idle_delta),
    ]


# Registered on the app being built (pages are imported inside Dash(...)), not with the
# global dash.callback list, which the first app to serve a request would take for itself.
@dash.get_app().callback(
    Output("overview-window", "children"),
    Output("overview-message", "children"),
    Output("overview-message", "style"),
    Output("overview-cards", "children"),
    Output("overview-figures", "children"),
    Input("url", "search"),
)
def load(search):
    """Read the overview for the URL's filters; never raises for a missing, locked or
    outdated warehouse (shows the cause instead)."""
    settings = current_settings()
    try:
        filters, d = read(settings, search, lambda con, f: data.load(con, f, with_teams=False),
                          cache_key="overview")
    except PageDataError as exc:
        return "Warehouse unavailable", str(exc), MESSAGE_STYLE, [], []
    window = fmt.window(d.window.start, d.window.end, 0)
    subtitle = f"Window: {window} · warehouse {settings.db}"
    if d.empty:
        return subtitle, empty_message(filters), MESSAGE_STYLE, [], []
    return (
        subtitle, None, HIDDEN, _cards(d),
        [graph("overview-spend-by-state", figures.spend_by_state_over_time(d.over_time, d.bucket)),
         graph("overview-weekly", figures_usage.weekly_spend(d.weekly))],
    )


@dash.get_app().callback(
    Output("overview-team-box", "children"),
    Input("url", "search"),
)
def team_chart(search):
    """Allocated cost per team in the window (nothing when there is no usage)."""
    def _read(con, filters):
        return data.by_team(con, filters, resolve_window(con, filters))

    try:
        _, teams = read(current_settings(), search, _read, cache_key="overview-teams")
    except PageDataError:
        return []   # the main callback shows the cause
    if teams.empty:
        return []
    return [graph("overview-cost-by-team", figures.cost_by_team(teams))]
