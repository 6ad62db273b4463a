"""Layout pieces and styles shared by the pages (no data, no callbacks)."""

from __future__ import annotations

from dash import dcc, html

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
CONTENT_STYLE = {"maxWidth": "1240px", "margin": "0 auto", "padding": "12px 24px 40px"}
CARD_STYLE = {
    "flex": "1 1 220px", "background": "white", "borderRadius": "8px", "padding": "14px 18px",
    "boxShadow": "0 1px 3px rgba(0,0,0,0.12)", "minWidth": "200px",
}
PANEL_STYLE = {"background": "white", "borderRadius": "8px", "padding": "8px 12px",
               "boxShadow": "0 1px 3px rgba(0,0,0,0.12)", "marginTop": "16px"}
MESSAGE_STYLE = {"background": "#fff8e1", "border": "1px solid #f0c36d", "borderRadius": "8px",
                 "padding": "12px 16px", "marginTop": "16px"}
HIDDEN = {"display": "none"}
MUTED = {"color": "#52606d", "fontSize": "14px"}
GRAPH_CONFIG = {"displaylogo": False, "responsive": True}
LABEL_STYLE = {"fontSize": "12px", "color": "#52606d", "textTransform": "uppercase",
               "letterSpacing": "0.04em", "marginBottom": "3px"}
H1_STYLE = {"fontSize": "26px", "margin": "8px 0 2px"}


def card(card_id: str, label: str, value: str, note: str, delta: str | None = None,
         delta_good: bool | None = None) -> html.Div:
    """A headline number. ``delta``: change vs the previous period, green when good."""
    colour = "#52606d" if delta_good is None else ("#2f8132" if delta_good else "#b3261e")
    return html.Div([
        html.Div(label, style={"fontSize": "13px", "color": "#52606d", "textTransform": "uppercase",
                               "letterSpacing": "0.04em"}),
        html.Div(value, id=f"{card_id}-value",
                 style={"fontSize": "28px", "fontWeight": "700", "margin": "4px 0"}),
        html.Div(delta, id=f"{card_id}-delta", style={"fontSize": "13px", "color": colour,
                                                      "fontWeight": "600"}) if delta else None,
        html.Div(note, style={"fontSize": "13px", "color": "#52606d"}),
    ], id=card_id, className="headline-card", style=CARD_STYLE)


def graph(graph_id: str, figure, **style) -> html.Div:
    return html.Div(dcc.Graph(id=graph_id, figure=figure, config=GRAPH_CONFIG),
                    style={**PANEL_STYLE, **style})


def message(text: str) -> html.Div:
    return html.Div(text, className="page-message", style=MESSAGE_STYLE)


def page_header(title: str, subtitle_id: str) -> list:
    return [html.H1(title, style=H1_STYLE),
            html.Div("Loading…", id=subtitle_id, style=MUTED)]


def empty_message(filters) -> str:
    """Why a page has nothing to show."""
    if filters.clusters or filters.teams or filters.namespaces or filters.gpu_models or filters.start:
        return "No GPU usage matches these filters. Widen the time window or clear a filter."
    return ("The warehouse has no GPU usage yet (gpu_usage is empty). "
            "Load data with `gpucost demo` or a collector, then run `gpucost build`.")
