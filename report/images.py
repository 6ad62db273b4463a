"""Static chart images: plotly figures to PNG through kaleido (headless Chromium).

Kaleido 1.x drives the Chromium it finds (``/usr/bin/chromium`` on Debian); starting it costs
about 3 s, each image then about 0.2 s, so one `ImageRenderer` serves a whole run. PNGs are
rendered at ``scale`` 2 for sharp text in mail clients and PDFs.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import plotly.graph_objects as go

from gpucost.errors import GpucostError

WIDTH_PX = 720  # the report's content width


@dataclass(frozen=True)
class Chart:
    name: str     # file-name safe, e.g. 'spend-by-state'
    alt: str      # text alternative (the figure's title)
    png: bytes
    width: int    # CSS pixels (the PNG has scale x as many)
    height: int

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


class ImageRenderer:
    """Context manager around kaleido's sync server (started here unless already running)."""

    def __init__(self, scale: float = 2.0):
        self.scale = scale
        self._started = False

    def __enter__(self) -> "ImageRenderer":
        import kaleido

        try:
            from kaleido._sync_server import GlobalKaleidoServer
            running = GlobalKaleidoServer().is_running()
        except ImportError:  # another kaleido layout: start (a no-op warning if running)
            running = False
        if not running:
            kaleido.start_sync_server(silence_warnings=True)
            self._started = True
        return self

    def __exit__(self, *exc) -> None:
        if self._started:
            import kaleido

            kaleido.stop_sync_server(silence_warnings=True)
            self._started = False

    def render(self, name: str, fig: go.Figure, width: int = WIDTH_PX) -> Chart:
        import kaleido

        height = int(fig.layout.height or 400)
        try:
            png = kaleido.calc_fig_sync(fig, opts={"format": "png", "width": width, "height": height,
                                                   "scale": self.scale})
        except Exception as exc:  # kaleido raises its own and choreographer's errors
            raise GpucostError(f"cannot render chart {name} with kaleido/Chromium: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        title = fig.layout.title.text or name
        return Chart(name, title, png, width, height)
