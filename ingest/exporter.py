"""A live exporter: the simulator's current values as dcgm-exporter + kube-state-metrics text.

`gpucost exporter` serves GET /metrics (Prometheus text format 0.0.4) for Prometheus to
scrape. The simulated clock follows wall time: the simulation starts at the UTC hour that
contains the exporter's start (so `now` always maps into it) and step k is served during
[start + k*step, start + (k+1)*step). Values are exactly those write_openmetrics would
write for that step (same labels, same formatting), without timestamps: Prometheus stamps
them with the scrape time. When the simulated `days` run out, the next simulation starts
where the last one ended (same seed: same fleet and names, fresh telemetry).

Blocks of telemetry are generated in order (one hour of steps each, ~30 ms for 64 GPUs),
so memory stays at one block.
"""

from __future__ import annotations

import io
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import numpy as np

from gpucost.ingest.simulate import SimConfig
from gpucost.ingest.simulate.openmetrics import ABSENT, _Writer
from gpucost.ingest.simulate.world import build_world

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _StepWriter(_Writer):
    """The OpenMetrics writer restricted to one step and without timestamps."""

    def __init__(self, world, out, step: int):
        super().__init__(world, out)
        self.k = step

    def series(self, name, labels, steps, values) -> None:      # dcgm(): one column, the current step
        for v in values:
            self.out.write(f"{name}{{{labels}}} {v}\n")

    def constant(self, name, labels, a, b, value="1") -> None:
        if a <= self.k < b:
            self.out.write(f"{name}{{{labels}}} {value}\n")

    def _spans(self, name, labels, spans) -> None:
        if any(a <= self.k < b for a, b in spans):
            self.out.write(f"{name}{{{labels}}} 1\n")


def hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


class SimExporter:
    """Renders the simulation's current step; thread-safe, cached per step."""

    def __init__(self, gpus: int = 64, seed: int = 0, step_seconds: int = 60, days: float = 1.0,
                 clock: Callable[[], float] = time.time, cluster: str = "demo"):
        self.gpus, self.seed, self.step_seconds, self.days, self.clock = gpus, seed, step_seconds, days, clock
        self.cluster = cluster
        self._lock = threading.Lock()
        self._cache: tuple[tuple, str] | None = None
        self._start(hour_floor(self._now()))

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), timezone.utc).replace(tzinfo=None)

    def _start(self, start: datetime) -> None:
        self.cfg = SimConfig(gpus=self.gpus, days=self.days, seed=self.seed, start=start,
                             step_seconds=self.step_seconds, cluster=self.cluster)
        self.world = build_world(self.cfg)
        self._blocks = self.world.telemetry().blocks()
        self._block = next(self._blocks)

    def step(self) -> int:
        """The simulation step wall time is in now (rolls the simulation over at its end)."""
        now = self._now()
        while now >= self.cfg.end:
            self._start(self.cfg.end)
        return max(0, int((now - self.cfg.start) / timedelta(seconds=self.step_seconds)))

    def render(self) -> str:
        with self._lock:
            k = self.step()
            key = (self.cfg.start, k)
            if self._cache and self._cache[0] == key:
                return self._cache[1]
            while k >= self._block.t0 + self._block.n:
                self._block = next(self._blocks)
            b, s = self._block, max(0, k - self._block.t0)
            store = {f: v[s][:, None] for f, v in b.values.items()}
            pod = np.where(b.present[s], b.pod[s], ABSENT)[:, None]
            out = io.StringIO()
            w = _StepWriter(self.world, out, k)
            w.dcgm(store, pod)
            w.nodes()
            w.pods()
            w.owners()
            text = out.getvalue()
            self._cache = (key, text)
            return text


def make_server(exporter: SimExporter, host: str = "127.0.0.1", port: int = 9400) -> ThreadingHTTPServer:
    """An HTTP server answering /metrics from `exporter` (call serve_forever())."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                body, ctype, status = exporter.render().encode(), CONTENT_TYPE, 200
            elif self.path == "/":
                body, ctype, status = b'<a href="/metrics">/metrics</a>\n', "text/html", 200
            else:
                body, ctype, status = b"not found\n", "text/plain", 404
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer((host, port), Handler)
