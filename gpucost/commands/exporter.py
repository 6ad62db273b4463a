"""`gpucost exporter [--gpus N --seed S --host 127.0.0.1 --port 9400]`: serve the simulated
fleet's current dcgm-exporter and kube-state-metrics values on /metrics for Prometheus.

Point a scrape job at it (e.g. scrape_interval: 15s, honor_labels: true, target
127.0.0.1:9400), then `gpucost collect prometheus --url http://prometheus:9090`.
"""

from __future__ import annotations

import argparse
import sys

from gpucost.commands.args import add_command, positive_int
from gpucost.errors import GpucostError
from gpucost.settings import Settings


def register(sub) -> None:
    parser = add_command(sub, "exporter", "serve simulated dcgm-exporter + kube-state-metrics text on /metrics", run)
    parser.add_argument("--gpus", type=positive_int, default=64, help="GPUs in the fleet (8..10000, default 64)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--step-seconds", type=positive_int, default=60,
                        help="how often values change, must divide 3600 (default 60)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9400, help="port (default 9400, dcgm-exporter's)")


def run(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.ingest.exporter import SimExporter, make_server

    exporter = SimExporter(gpus=args.gpus, seed=args.seed, step_seconds=args.step_seconds)
    try:
        server = make_server(exporter, args.host, args.port)
    except OSError as exc:
        raise GpucostError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print(f"serving {args.gpus} simulated GPUs ({len(exporter.world.fleet.nodes)} nodes) at "
          f"http://{args.host}:{server.server_address[1]}/metrics; simulation starts "
          f"{exporter.cfg.start:%Y-%m-%d %H:%M} UTC, step {args.step_seconds} s (Ctrl-C to stop)",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
