"""`gpucost serve [--host 127.0.0.1 --port 8050]`: the web dashboard."""

from __future__ import annotations

import argparse
import sys

from gpucost.commands.args import add_command, positive_int
from gpucost.settings import Settings


def register(sub) -> None:
    parser = add_command(sub, "serve", "serve the web dashboard", run)
    add_server_options(parser)


def add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=positive_int, default=8050, help="port (default 8050)")
    parser.add_argument("--auth-header", metavar="HEADER",
                        help="trust this header (e.g. X-Forwarded-User) set by an auth proxy; basic auth "
                             "comes from GPUCOST_DASHBOARD_USER / GPUCOST_DASHBOARD_PASSWORD")


def run(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.dashboard.app import serve
    from gpucost.dashboard.auth import DashboardAuth
    from gpucost.warehouse import open_warehouse

    with open_warehouse(settings, read_only=True, prefer_snapshot=True):
        pass  # refuse to start on a missing or foreign warehouse
    auth = DashboardAuth.from_env(user_header=args.auth_header)
    if auth is None and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"gpucost: warning: serving on {args.host} without authentication", file=sys.stderr)
    print(f"serving http://{args.host}:{args.port}/ (Ctrl-C to stop)", file=sys.stderr)
    serve(settings, host=args.host, port=args.port, auth=auth)
