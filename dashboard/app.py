"""The Dash app: ``create_app(settings)`` builds it, ``serve(settings)`` runs it.

Pages live in ``dashboard/pages`` (Dash Pages, one file per page) and load their data in
callbacks, never at import. The settings object is stored on the app's Flask server
(``server.config[SETTINGS_KEY]``) and read by callbacks through ``current_settings()``,
so several apps with different settings can live in one process. Every read opens the
warehouse read-only, preferring the snapshot published after each build, so the dashboard
keeps serving while a collection or build runs in another process.

Besides the pages: ``GET /healthz`` (200 "ok" when the warehouse opens read-only, else 503
with the cause; never behind auth) and ``GET /metrics`` (Prometheus text, see
``dashboard.metrics``). ``auth`` (``dashboard.auth.DashboardAuth``) protects everything
else with basic auth or a trusted proxy header.
"""

from __future__ import annotations

import dash
from dash import dcc, html

from gpucost.dashboard import auth as auth_mod
from gpucost.dashboard import filterbar, metrics
from gpucost.dashboard.cache import ResultCache
from gpucost.dashboard.components import FONT
from gpucost.errors import GpucostError
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse

SETTINGS_KEY = "GPUCOST_SETTINGS"
CACHE_KEY = "GPUCOST_RESULT_CACHE"

NAV_STYLE = {
    "display": "flex", "alignItems": "center", "gap": "24px",
    "padding": "10px 24px", "background": "#1f2933", "color": "white", "fontFamily": FONT,
}
PAGE_STYLE = {"fontFamily": FONT, "background": "#f5f7fa", "minHeight": "100vh", "margin": "0",
              "color": "#1f2933"}
EXTRA_CSS = """<style>
body { margin: 0; background: #f5f7fa; }
.nav-link { color: #cbd2d9; text-decoration: none; padding: 4px 0; border-bottom: 2px solid transparent; }
.nav-link:hover { color: white; }
.nav-link.active { color: white; border-bottom-color: #56B4E9; }
.DateInput_input { font-size: 14px; padding: 6px 8px; line-height: 20px; }
.DateRangePickerInput { border-radius: 4px; }
</style>"""


def current_settings() -> Settings:
    """The settings of the app serving the current callback or request."""
    return dash.get_app().server.config[SETTINGS_KEY]


def current_cache() -> ResultCache:
    """The result cache of the app serving the current callback."""
    return dash.get_app().server.config[CACHE_KEY]


def _shell() -> html.Div:
    links = [dcc.Link(page["name"], href=page["relative_path"], className="nav-link",
                      id={"type": "nav", "path": page["relative_path"]})
             for page in dash.page_registry.values()]
    return html.Div([
        dcc.Location(id=filterbar.URL_ID, refresh=False),
        html.Nav([html.Span("gpucost", style={"fontWeight": "700", "fontSize": "18px"}), *links],
                 style=NAV_STYLE),
        filterbar.layout(),
        dash.page_container,
    ], style=PAGE_STYLE)


def create_app(settings: Settings, auth: auth_mod.DashboardAuth | None = None,
               result_cache_entries: int = 32) -> dash.Dash:
    """Build the Dash app for ``settings`` (the warehouse at settings.db, read-only).

    auth: None (rely on a loopback bind) or basic auth / a trusted user header.
    result_cache_entries: query results kept per warehouse snapshot (the jobs list a grid
    pages through, the filter choices); 0 disables the cache (benchmarks of cold queries).
    """
    app = dash.Dash(
        "gpucost.dashboard",          # a package name, so pages import as gpucost.dashboard.pages.*
        use_pages=True,
        pages_folder="pages",
        title="gpucost",
        update_title=None,
        serve_locally=True,
        suppress_callback_exceptions=True,   # page components exist only while their page shows
    )
    server = app.server
    server.config[SETTINGS_KEY] = settings
    server.config[CACHE_KEY] = ResultCache(result_cache_entries)
    auth_mod.install(server, auth)
    app.layout = _shell
    app.index_string = app.index_string.replace("{%css%}", "{%css%}" + EXTRA_CSS)
    filterbar.register(app, lambda: settings, lambda: server.config[CACHE_KEY])
    app.clientside_callback(
        """function(pathname, ids) {
            return ids.map(i => (i.path === pathname) ? 'nav-link active' : 'nav-link');
        }""",
        dash.Output({"type": "nav", "path": dash.ALL}, "className"),
        dash.Input(filterbar.URL_ID, "pathname"),
        dash.State({"type": "nav", "path": dash.ALL}, "id"),
    )

    @server.route("/healthz")
    def healthz():  # noqa: ANN202 - Flask view
        try:
            with open_warehouse(settings, read_only=True, prefer_snapshot=True) as con:
                con.execute("select 1").fetchone()
        except GpucostError as exc:
            return str(exc), 503, {"Content-Type": "text/plain; charset=utf-8"}
        return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}

    @server.route("/metrics")
    def prometheus_metrics():  # noqa: ANN202 - Flask view
        try:
            with open_warehouse(settings, read_only=True, prefer_snapshot=True) as con:
                body = metrics.render(metrics.latest_complete_hours(con, settings.step_seconds), up=True)
        except GpucostError as exc:
            body = metrics.render([], up=False, error=str(exc))
        return body, 200, {"Content-Type": metrics.CONTENT_TYPE}

    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8050,
          auth: auth_mod.DashboardAuth | None = None) -> None:
    """Run the app with the built-in threaded server until interrupted (loopback by default)."""
    create_app(settings, auth=auth).run(host=host, port=port, debug=False)
