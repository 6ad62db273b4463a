"""The global filter bar and its two-way binding with the URL's query string.

One callback keeps the controls, the URL and the navigation links in step:
- the URL changed (first load, a shared link, browser back/forward): parse it
  (``filters.parse_query``), fill the controls and their choices from the warehouse;
- a control changed: write the filters into the URL (a new history entry, so back undoes
  it) and into the navigation links, so switching pages keeps them.
Pages read the filters from ``url.search`` themselves, never from the controls.
"""

from __future__ import annotations

import dash
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from gpucost.dashboard.components import LABEL_STYLE
from gpucost.dashboard.data.options import filter_options
from gpucost.dashboard.filters import Filters, from_controls, parse_query
from gpucost.errors import GpucostError
from gpucost.warehouse import open_warehouse

URL_ID = "url"
BAR_STYLE = {"display": "flex", "flexWrap": "wrap", "gap": "12px", "alignItems": "flex-end",
             "padding": "10px 24px", "background": "white", "borderBottom": "1px solid #d9dde3"}
CONTROLS = (("f-cluster", "Cluster", "All clusters", "clusters"),
            ("f-team", "Team", "All teams", "teams"),
            ("f-ns", "Namespace", "All namespaces", "namespaces"),
            ("f-model", "GPU model", "All GPU models", "gpu_models"))


def _field(label: str, control, width: str) -> html.Div:
    return html.Div([html.Div(label, style=LABEL_STYLE), control], style={"flex": f"1 1 {width}", "minWidth": width})


def layout() -> html.Div:
    dropdowns = [_field(label, dcc.Dropdown(id=cid, multi=True, placeholder=placeholder, options=[],
                                            style={"fontSize": "14px"}), "170px")
                 for cid, label, placeholder, _ in CONTROLS]
    window = dcc.DatePickerRange(id="f-window", display_format="YYYY-MM-DD", clearable=True,
                                 start_date_placeholder_text="first day", end_date_placeholder_text="last day",
                                 minimum_nights=0, first_day_of_week=1, updatemode="bothdates",
                                 style={"fontSize": "14px"})
    return html.Div([
        html.Div([
            _field("Window (UTC days)", window, "280px"),
            *dropdowns,
            html.Button("Reset", id="f-reset", n_clicks=0, title="Clear every filter",
                        style={"height": "36px", "padding": "0 14px", "border": "1px solid #cbd2d9",
                               "borderRadius": "4px", "background": "#f5f7fa", "cursor": "pointer"}),
        ], style=BAR_STYLE, id="filter-bar"),
        html.Div(id="f-notes", style={"padding": "0 24px", "color": "#8a5300", "fontSize": "13px"}),
    ])


def _options(known: list[str], chosen: tuple[str, ...]) -> list[dict[str, str]]:
    """Known values, plus chosen ones the warehouse does not know (so the user sees them)."""
    extra = [v for v in chosen if v not in known]
    return [{"label": v, "value": v} for v in known] + [{"label": f"{v} (unknown)", "value": v} for v in extra]


def register(app: dash.Dash, settings_getter, cache_getter) -> None:
    """Register the binding callback on ``app``; ``settings_getter()`` gives the settings,
    ``cache_getter()`` the app's ResultCache (the choices are cached per snapshot)."""
    value_outputs = [Output(cid, "value") for cid, *_ in CONTROLS]
    option_outputs = [Output(cid, "options") for cid, *_ in CONTROLS]
    value_inputs = [Input(cid, "value") for cid, *_ in CONTROLS]

    @app.callback(
        Output(URL_ID, "search"),
        Output("f-window", "start_date"), Output("f-window", "end_date"),
        Output("f-window", "min_date_allowed"), Output("f-window", "max_date_allowed"),
        Output("f-window", "initial_visible_month"),
        *value_outputs, *option_outputs,
        Output("f-notes", "children"),
        Output({"type": "nav", "path": ALL}, "href"),
        Input(URL_ID, "search"),
        Input("f-window", "start_date"), Input("f-window", "end_date"),
        *value_inputs,
        Input("f-reset", "n_clicks"),
        State({"type": "nav", "path": ALL}, "id"),
    )
    def sync(search, start, end, clusters, teams, namespaces, models, _reset, nav_ids):
        trigger = ctx.triggered_id
        hrefs = lambda query: [i["path"] + query for i in nav_ids]  # noqa: E731
        nothing = [no_update] * 4
        if trigger == "f-reset":
            return ("", None, None, no_update, no_update, no_update, [], [], [], [], *nothing, None, hrefs(""))
        if trigger in ("f-window", "f-cluster", "f-team", "f-ns", "f-model"):
            filters = from_controls(start, end, clusters, teams, namespaces, models)
            query = filters.to_query()
            return (query if query != (search or "") else no_update,
                    *[no_update] * 5, *nothing, *nothing, _notes(filters), hrefs(query))
        # The URL changed, or the first render: the controls follow the URL.
        filters = parse_query(search)
        notes = list(filters.notes)
        def _read():
            with open_warehouse(settings_getter(), read_only=True, prefer_snapshot=True) as con:
                return filter_options(con)

        try:
            opts = cache_getter().get_or_compute(settings_getter(), "filter-options", _read)
            known = {"clusters": opts.clusters, "teams": opts.teams, "namespaces": opts.namespaces,
                     "gpu_models": opts.gpu_models}
            first, last = opts.first_day, opts.last_day
        except GpucostError as exc:
            known = {"clusters": [], "teams": [], "namespaces": [], "gpu_models": []}
            first = last = None
            notes.append(f"warehouse unavailable: {exc}")
        options = [_options(known[attr], getattr(filters, attr)) for *_, attr in CONTROLS]
        values = [list(getattr(filters, attr)) for *_, attr in CONTROLS]
        query = filters.to_query()
        visible = (filters.end_day or last)
        return (no_update,
                _iso(filters.start_day), _iso(filters.end_day), _iso(first), _iso(last), _iso(visible),
                *values, *options, _notes_text(notes), hrefs(query))


def _iso(day) -> str | None:
    return None if day is None else day.isoformat()


def _notes(filters: Filters):
    return _notes_text(list(filters.notes))


def _notes_text(notes: list[str]):
    return ("Note: " + "; ".join(notes)) if notes else None
