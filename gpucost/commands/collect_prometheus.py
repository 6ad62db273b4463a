"""`gpucost collect prometheus --url URL [--start T --end T --step 60s --cluster NAME]`:
DCGM and kube-state-metrics series from Prometheus into the raw tables.

Connection options (shared with `gpucost doctor`): --bearer-token / --bearer-token-file
(or $GPUCOST_PROMETHEUS_TOKEN), --basic-auth USER[:PASSWORD] (password else from
$GPUCOST_PROMETHEUS_PASSWORD), --header 'Name: value' (repeatable, e.g. 'X-Scope-OrgID:
team-a'), --ca-file PEM, --insecure; --url defaults to $GPUCOST_PROMETHEUS_URL.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from gpucost.commands.args import add_command, positive_int, timestamp
from gpucost.errors import GpucostError
from gpucost.settings import Settings


def duration_seconds(text: str) -> int:
    """'60', '60s', '5m', '1h', '7d' -> whole seconds (positive)."""
    m = re.fullmatch(r"(\d+)\s*(s|m|h|d)?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration like 60s, 5m, 1h or 7d: {text!r}")
    value = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}[m.group(2)]
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def add_connection_options(parser: argparse.ArgumentParser, url_flag: str = "--url", required: bool = True) -> None:
    parser.add_argument(url_flag, dest="url", metavar="URL", default=os.environ.get("GPUCOST_PROMETHEUS_URL"),
                        required=required and not os.environ.get("GPUCOST_PROMETHEUS_URL"),
                        help="Prometheus base URL, e.g. http://prometheus:9090 (env GPUCOST_PROMETHEUS_URL)")
    parser.add_argument("--bearer-token", help="bearer token (env GPUCOST_PROMETHEUS_TOKEN)")
    parser.add_argument("--bearer-token-file", type=Path, help="file holding the bearer token")
    parser.add_argument("--basic-auth", metavar="USER[:PASSWORD]",
                        help="basic auth (password else from env GPUCOST_PROMETHEUS_PASSWORD)")
    parser.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="extra request header, repeatable (e.g. 'X-Scope-OrgID: tenant')")
    parser.add_argument("--ca-file", type=Path, help="CA bundle (PEM) to verify the server's certificate")
    parser.add_argument("--insecure", action="store_true", help="do not verify the server's TLS certificate")
    parser.add_argument("--timeout", type=duration_seconds, default=60, help="per request (default 60s)")
    parser.add_argument("--retries", type=int, default=3,
                        help="retries on 5xx, 429, timeouts and connection errors (default 3)")


def connection_from_args(args: argparse.Namespace, url: str | None = None):
    from gpucost.ingest.prometheus import Connection

    url = url or args.url
    if not url:
        raise GpucostError("no Prometheus URL: pass --url or set GPUCOST_PROMETHEUS_URL")
    token = args.bearer_token or os.environ.get("GPUCOST_PROMETHEUS_TOKEN")
    if args.bearer_token_file:
        try:
            token = args.bearer_token_file.read_text().strip()
        except OSError as exc:
            raise GpucostError(f"cannot read --bearer-token-file: {exc}") from None
    basic = None
    if args.basic_auth:
        user, _, password = args.basic_auth.partition(":")
        basic = (user, password or os.environ.get("GPUCOST_PROMETHEUS_PASSWORD", ""))
    headers = []
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise GpucostError(f"--header must look like 'Name: value', got {h!r}")
        headers.append((name.strip(), value.strip()))
    if args.ca_file and not args.ca_file.is_file():
        raise GpucostError(f"--ca-file not found: {args.ca_file}")
    if args.retries < 0:
        raise GpucostError(f"--retries must be 0 or more, got {args.retries}")
    return Connection(url=url, bearer_token=token, basic_auth=basic, headers=tuple(headers),
                      ca_file=str(args.ca_file) if args.ca_file else None, insecure=args.insecure,
                      timeout_s=float(args.timeout), retries=args.retries,
                      pool_size=max(4, getattr(args, "parallel", 4)))


def register(what) -> None:
    parser = add_command(what, "prometheus", "DCGM and kube-state-metrics series from Prometheus", run)
    add_connection_options(parser)
    parser.add_argument("--start", type=timestamp,
                        help="range start, UTC (default: where the last collection ended, else 7 days ago)")
    parser.add_argument("--end", type=timestamp, help="range end, exclusive (default: now - 1 minute)")
    parser.add_argument("--step", type=duration_seconds, help="resolution, must divide a day (default: settings, 60s)")
    parser.add_argument("--cluster", help="cluster name written on every row (default: settings cluster)")
    parser.add_argument("--selector", default="",
                        help="PromQL label matchers added to every query, e.g. 'cluster=\"prod\"'")
    parser.add_argument("--parallel", type=positive_int, default=4, help="requests in flight (default 4)")
    parser.add_argument("--max-points", type=positive_int, default=11_000,
                        help="points per series per request (Prometheus refuses more than 11000)")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a progress bar on stderr (default: only on a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false")


def progress_bar(enabled: bool | None):
    """A callback drawing a one-line bar on stderr, or None."""
    import time

    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    last = [0.0]

    def draw(p) -> None:
        now = time.perf_counter()
        done = p.done_windows == p.windows
        if not done and now - last[0] < 0.1:
            return
        last[0] = now
        width = 24
        filled = int(width * p.done_requests / max(1, p.requests))
        print(f"\r\x1b[Kcollect prometheus [{'#' * filled}{'-' * (width - filled)}] {p.done_requests}/{p.requests} "
              f"requests, {p.done_windows}/{p.windows} windows, {p.samples:,} samples, "
              f"{now - p.started:.1f} s", end="\n" if done else "", file=sys.stderr, flush=True)
    return draw


def run(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.ingest.prometheus import CollectOptions, PromClient, collect_prometheus, format_summary
    from gpucost.warehouse import open_warehouse

    step = args.step or settings.step_seconds
    if 86400 % step:
        raise GpucostError(f"--step must divide a day, got {step} s")
    if args.start and args.end and args.end <= args.start:
        raise GpucostError(f"--end {args.end} is not after --start {args.start}")
    opts = CollectOptions(start=args.start, end=args.end, step_s=step, cluster=args.cluster or settings.cluster,
                          selector=args.selector, parallel=args.parallel, max_points=args.max_points,
                          extra_label_keys=(settings.job_label, settings.team_label))
    conn = connection_from_args(args)
    with open_warehouse(settings, create=True) as con, PromClient(conn) as client:
        summary = collect_prometheus(con, client, opts, progress=progress_bar(args.progress))
    print(format_summary(summary))
