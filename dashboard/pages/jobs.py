"""Jobs page ("/jobs"): every job in the window in a sortable, filterable grid, with a CSV
download of exactly the rows the grid selects (global filters, then its column filters and
sort).

Columns: cost (active + allocated idle, USD), idle cost and its share, efficiency (= GPU-hour
weighted utilisation of the job's GPUs, %), peak memory of one device (GiB), GPU model, GPUs
held at most, GPU-hours, cost of held GPUs without telemetry. Data: ``data.jobs`` on
int_job_daily (whole UTC days).

A month of a 1,000-GPU fleet has ~20,000 jobs, too many to ship to the browser at once: the
grid uses AG Grid's infinite row model and asks for 100 rows at a time; the server applies
the grid's filter and sort models (``gridquery``) to the job list, cached per URL and
warehouse snapshot (``cache``).
"""

from __future__ import annotations

import dash
import dash_ag_grid as dag
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update

from gpucost.dashboard import formatting as fmt
from gpucost.dashboard.app import current_cache, current_settings
from gpucost.dashboard.components import CONTENT_STYLE, HIDDEN, MESSAGE_STYLE, MUTED, PANEL_STYLE, empty_message, page_header
from gpucost.dashboard.data import jobs as data
from gpucost.dashboard.data.common import resolve_window
from gpucost.dashboard.gridquery import apply_filter_model, apply_sort_model, sort_model_from_column_state
from gpucost.dashboard.pagekit import PageDataError, read

dash.register_page(__name__, path="/jobs", name="Jobs", title="GPU jobs · gpucost", order=2)

GIB = 2**30
BLOCK_ROWS = 100


def _money(decimals: int = 2) -> dict:
    return {"function": f"params.value == null ? '' : d3.format('$,.{decimals}f')(params.value)"}


def _number(spec: str, suffix: str = "") -> dict:
    return {"function": f"params.value == null ? '' : d3.format('{spec}')(params.value) + '{suffix}'"}


TEXT = {"filter": "agTextColumnFilter"}
NUMBER = {"filter": "agNumberColumnFilter", "type": "rightAligned"}
COLUMNS = [
    {"field": "job", "headerName": "Job", "pinned": "left", "minWidth": 200, **TEXT},
    {"field": "namespace", "headerName": "Namespace", **TEXT},
    {"field": "team", "headerName": "Team", **TEXT},
    {"field": "gpu_model", "headerName": "GPU model", "minWidth": 170, **TEXT},
    {"field": "cost_usd", "headerName": "Cost (USD)", "valueFormatter": _money(), "sort": "desc", **NUMBER},
    {"field": "idle_cost_usd", "headerName": "Idle cost (USD)", "valueFormatter": _money(), **NUMBER},
    {"field": "idle_share_pct", "headerName": "Idle share (%)", "valueFormatter": _number(",.1f", " %"), **NUMBER},
    {"field": "util_avg_pct", "headerName": "Efficiency (util %)", "valueFormatter": _number(",.1f", " %"),
     **NUMBER},
    {"field": "mem_peak_gib", "headerName": "Peak memory (GiB)", "valueFormatter": _number(",.1f"), **NUMBER},
    {"field": "gpus_max", "headerName": "GPUs (max)", "valueFormatter": _number(",.2~f"), **NUMBER},
    {"field": "gpu_hours", "headerName": "GPU-hours", "valueFormatter": _number(",.1f"), **NUMBER},
    {"field": "no_data_cost_usd", "headerName": "No-telemetry cost (USD)", "valueFormatter": _money(), **NUMBER},
    {"field": "first_seen_at", "headerName": "First seen (UTC)", **TEXT},
    {"field": "last_seen_at", "headerName": "Last seen (UTC)", **TEXT},
    {"field": "cluster", "headerName": "Cluster", **TEXT},
]
FIELDS = [c["field"] for c in COLUMNS]
DEFAULT_SORT = [{"colId": "cost_usd", "sort": "desc"}]


def _grid() -> dag.AgGrid:
    return dag.AgGrid(
        id="jobs-grid",
        columnDefs=COLUMNS,
        rowModelType="infinite",
        defaultColDef={"sortable": True, "filter": True, "floatingFilter": True, "resizable": True,
                       "minWidth": 120,
                       "filterParams": {"maxNumConditions": 2, "buttons": ["reset"]}},
        dashGridOptions={"cacheBlockSize": BLOCK_ROWS, "maxBlocksInCache": 50, "rowBuffer": 10,
                         "infiniteInitialRowCount": 1, "enableCellTextSelection": True,
                         "animateRows": False},
        getRowId="params.data.cluster + '/' + params.data.namespace + '/' + params.data.job",
        className="ag-theme-quartz",
        style={"height": "620px", "width": "100%"},
    )


def layout(**_query) -> html.Div:
    return html.Div([
        *page_header("GPU jobs", "jobs-window"),
        html.Div(id="jobs-message", style=HIDDEN),
        html.Div([
            html.Div([
                html.Div(id="jobs-summary", style={**MUTED, "flex": "1"}),
                html.Button("Download CSV", id="jobs-csv", n_clicks=0,
                            title="The rows the grid selects: its column filters and sort apply",
                            style={"padding": "6px 14px", "border": "1px solid #cbd2d9", "borderRadius": "4px",
                                   "background": "#f5f7fa", "cursor": "pointer"}),
                dcc.Download(id="jobs-download"),
            ], style={"display": "flex", "alignItems": "center", "gap": "12px", "padding": "6px 4px 10px"}),
            # Re-created when the URL's filters change, so the grid asks for its rows again.
            html.Div(id="jobs-grid-box"),
        ], style=PANEL_STYLE),
    ], style=CONTENT_STYLE)


def _display(df: pd.DataFrame) -> pd.DataFrame:
    """The grid's columns from data.jobs: GiB, percentages, text timestamps."""
    return df.assign(
        mem_peak_gib=df["mem_peak_bytes"].astype(float) / GIB,
        idle_share_pct=df["idle_share"].astype(float) * 100.0,
        gpus_max=df["gpus_max"].astype(float).round(6),
        first_seen_at=df["first_seen_at"].dt.strftime("%Y-%m-%d %H:%M"),
        last_seen_at=df["last_seen_at"].dt.strftime("%Y-%m-%d %H:%M"),
    )[FIELDS]


def _jobs(search: str | None) -> tuple:
    """(filters, window, grid frame) for the URL, cached per URL and warehouse snapshot."""
    settings = current_settings()

    def compute():
        def _read(con, filters):
            window = resolve_window(con, filters)
            return window, _display(data.jobs(con, filters, window, settings.step_seconds))
        filters, (window, df) = read(settings, search, _read)
        return filters, window, df

    return current_cache().get_or_compute(settings, ("jobs", search or ""), compute)


def _records(df: pd.DataFrame) -> list[dict]:
    return df.astype(object).where(df.notna(), None).to_dict("records")


@dash.get_app().callback(
    Output("jobs-window", "children"),
    Output("jobs-message", "children"),
    Output("jobs-message", "style"),
    Output("jobs-summary", "children"),
    Output("jobs-grid-box", "children"),
    Input("url", "search"),
)
def load(search):
    try:
        filters, window, df = _jobs(search)
    except PageDataError as exc:
        return "Warehouse unavailable", str(exc), MESSAGE_STYLE, None, []
    subtitle = (f"Window: {fmt.window(window.start.replace(hour=0), window.end, 0)} "
                "(whole UTC days) · cost = active + allocated idle")
    if df.empty:
        return subtitle, empty_message(filters), MESSAGE_STYLE, "0 jobs", [_grid()]
    summary = (f"{len(df):,} jobs · cost {fmt.usd(df['cost_usd'].sum())} · idle {fmt.usd(df['idle_cost_usd'].sum())}"
               f" · no telemetry {fmt.usd(df['no_data_cost_usd'].sum())}")
    return subtitle, None, HIDDEN, summary, [_grid()]


@dash.get_app().callback(
    Output("jobs-grid", "getRowsResponse"),
    Input("jobs-grid", "getRowsRequest"),
    State("url", "search"),
)
def rows(request, search):
    """One block of rows for the grid: filter and sort models applied on the server."""
    if not request:
        return no_update
    try:
        _, _, df = _jobs(search)
    except PageDataError:
        return {"rowData": [], "rowCount": 0}
    df = apply_filter_model(df, request.get("filterModel"), FIELDS)
    df = apply_sort_model(df, request.get("sortModel") or DEFAULT_SORT, FIELDS)
    start = max(0, int(request.get("startRow") or 0))
    end = max(start, min(int(request.get("endRow") or start + BLOCK_ROWS), start + 10 * BLOCK_ROWS))
    return {"rowData": _records(df.iloc[start:end]), "rowCount": len(df)}


@dash.get_app().callback(
    Output("jobs-download", "data"),
    Input("jobs-csv", "n_clicks"),
    State("url", "search"),
    State("jobs-grid", "filterModel"),
    State("jobs-grid", "columnState"),
    prevent_initial_call=True,
)
def download(n_clicks, search, filter_model, column_state):
    """Every row the grid selects, as CSV with the grid's headers and unformatted numbers."""
    if not n_clicks:
        return no_update
    try:
        _, window, df = _jobs(search)
    except PageDataError:
        return no_update
    df = apply_filter_model(df, filter_model, FIELDS)
    df = apply_sort_model(df, sort_model_from_column_state(column_state) or DEFAULT_SORT, FIELDS)
    out = df.rename(columns={c["field"]: c["headerName"] for c in COLUMNS})
    name = f"gpucost-jobs-{window.start:%Y%m%d}-{window.end:%Y%m%d}.csv"
    return dcc.send_data_frame(out.to_csv, name, index=False)
