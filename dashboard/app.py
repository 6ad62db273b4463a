"""The Dash app: ``create_app(settings)`` builds it, ``serve(settings)`` runs it.

Pages live in ``dashboard/pages`` (Dash Pages, one file per page) and load their data in
callbacks, never at import. The settings object is stored on the app's Flask server
(``server.config[SETTINGS_KEY]``) and read by callbacks through ``current_settings()``,
so several apps with different settings can live in one process.
"""

from __future__ import annotations

import dash
from dash import dcc, html

from gpucost.errors import GpucostError
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse

SETTINGS_KEY = "GPUCOST_SETTINGS"

NAV_STYLE = {
    "display": "flex", "alignItems": "center", "gap": "24px",
    "padding": "10px 24px", "background": "#1f2933", "color": "white",
    "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
}
PAGE_STYLE = {
    "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    "background": "#f5f7fa", "minHeight": "100vh", "margin": "0", "color": "#1f2933",
}


def current_settings() -> Settings:
    """The settings of the app serving the current callback or request."""
    return dash.get_app().server.config[SETTINGS_KEY]


def _shell() -> html.Div:
    links = [dcc.Link(page["name"], href=page["relative_path"],
                      style={"color": "#cbd2d9", "textDecoration": "none"})
             for page in dash.page_registry.values()]
    return html.Div([
        html.Nav([html.Span("gpucost", style={"fontWeight": "700", "fontSize": "18px"}), *links],
                 style=NAV_STYLE),
        dash.page_container,
    ], style=PAGE_STYLE)


def create_app(settings: Settings) -> dash.Dash:
    """Build the Dash app for ``settings`` (the warehouse at settings.db, opened read-only
    per request). Adds ``GET /healthz``: 200 "ok" when the warehouse opens read-only,
    503 with the one-line cause otherwise."""
    app = dash.Dash(
        "gpucost.dashboard",          # a package name, so pages import as gpucost.dashboard.pages.*
        use_pages=True,
        pages_folder="pages",
        title="gpucost",
        update_title=None,
        serve_locally=True,
    )
    server = app.server
    server.config[SETTINGS_KEY] = settings
    app.layout = _shell
    app.index_string = app.index_string.replace(
        "{%css%}", "{%css%}<style>body { margin: 0; background: #f5f7fa; }</style>")

    @server.route("/healthz")
    def healthz():  # noqa: ANN202 - Flask view
        try:
            with open_warehouse(settings, read_only=True, prefer_snapshot=True) as con:
                con.execute("select 1").fetchone()
        except GpucostError as exc:
            return str(exc), 503, {"Content-Type": "text/plain; charset=utf-8"}
        return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}

    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Run the app with the built-in server until interrupted (loopback by default)."""
    create_app(settings).run(host=host, port=port, debug=False)
