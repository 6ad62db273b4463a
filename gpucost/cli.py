"""The `gpucost` command. Builds the settings once and passes them down.

Exit codes: 0 ok, 1 failure (one-line cause on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Sequence

from gpucost import __version__
from gpucost.errors import GpucostError
from gpucost.settings import Settings, load_settings


def _timestamp(text: str) -> datetime:
    """ISO 8601 date or date-time; offsets are converted to naive UTC."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {value}")
    return value


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--db", type=Path, default=default,
                        help="warehouse file (env GPUCOST_DB; default gpucost.duckdb)")
    parser.add_argument("--config", type=Path, default=default,
                        help="settings file (env GPUCOST_CONFIG; default ./gpucost.toml if present)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gpucost",
        description="What your Kubernetes GPUs cost, which sit idle or stranded, and what to change.")
    parser.add_argument("--version", action="version", version=f"gpucost {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="simulate a GPU fleet, build the marts and serve the dashboard")
    _global_options(demo, suppress=True)
    demo.add_argument("--gpus", type=_positive_int, default=64, help="GPUs in the fleet (8..10000, default 64)")
    demo.add_argument("--days", type=_positive_float, default=7.0, help="days simulated (default 7)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--no-serve", action="store_true", help="build and print a summary, do not serve")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=_positive_int, default=8050)

    build = sub.add_parser("build", help="turn raw tables into the public marts (incremental)")
    _global_options(build, suppress=True)
    build.add_argument("--start", type=_timestamp, help="window start (UTC; widened to whole days)")
    build.add_argument("--end", type=_timestamp, help="window end, exclusive")

    query = sub.add_parser("query", help="run read-only SQL against the warehouse")
    _global_options(query, suppress=True)
    query.add_argument("sql", help="SQL text, e.g. \"select * from job_costs limit 5\"")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")

    collect = sub.add_parser("collect", help="load data from a source into the warehouse")
    what = collect.add_subparsers(dest="source", required=True, metavar="SOURCE")
    prices = what.add_parser("prices", help="AWS spot price history and on-demand list prices (boto3)")
    _global_options(prices, suppress=True)
    prices.add_argument("--region", action="append", help="AWS region (repeatable; default: settings region)")
    prices.add_argument("--instance-type", action="append", dest="instance_types",
                        help="instance type (repeatable; default: the cluster's GPU types, else the catalog's)")
    prices.add_argument("--start", type=_timestamp, help="spot history start (default: first node seen, else 7 days ago)")
    prices.add_argument("--end", type=_timestamp, help="spot history end, exclusive (default: now)")
    billing = what.add_parser("billing", help="billing export: FOCUS 1.x or AWS CUR (2.0 or legacy)")
    _global_options(billing, suppress=True)
    billing.add_argument("path", metavar="SOURCE", help="s3://bucket/prefix, a file or a folder")
    billing.add_argument("--format", choices=("focus", "cur"), required=True)
    billing.add_argument("--force", action="store_true", help="re-import files already loaded unchanged")

    placement = sub.add_parser("placement", help="placement what-if replays (FGD paper protocol)")
    pwhat = placement.add_subparsers(dest="action", required=True, metavar="ACTION")
    simulate = pwhat.add_parser("simulate", help="replay a pod list onto a node list under a policy")
    _global_options(simulate, suppress=True)
    simulate.add_argument("--nodes", type=Path, required=True, help="node CSV (sn,cpu_milli,memory_mib,gpu,model)")
    simulate.add_argument("--pods", type=Path, required=True,
                          help="pod CSV (name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec])")
    simulate.add_argument("--policy", required=True,
                          choices=("random", "best-fit", "dot-product", "gpu-packing", "gpu-clustering", "fgd"))
    simulate.add_argument("--inflation", type=_positive_float, default=1.3,
                          help="append sampled pods until requests reach this x GPU capacity (default 1.3)")
    simulate.add_argument("--seed", type=int, default=42)
    simulate.add_argument("--format", choices=("csv", "json"), default="csv")
    simulate.add_argument("--out", type=Path, help="write here instead of stdout")

    serve = sub.add_parser("serve", help="serve the web dashboard")
    _global_options(serve, suppress=True)
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=_positive_int, default=8050)
    return parser


def _progress(label: str):
    interactive = sys.stderr.isatty()

    def report(done: int, total: int) -> None:
        if interactive or done == total:
            end = "\n" if done == total else "\r"
            print(f"{label}: {done}/{total} days", end=end, file=sys.stderr, flush=True)
    return report


def _build(settings: Settings, start: datetime | None, end: datetime | None) -> None:
    from gpucost.build import build
    from gpucost.ingest.loads import Window
    from gpucost.warehouse import open_warehouse

    if (start is None) != (end is None):
        raise GpucostError("give both --start and --end, or neither")
    window = Window(start, end) if start else None
    with open_warehouse(settings) as con:
        summary = build(con, settings, window, progress=_progress("build"))
    if summary.window is None:
        print("nothing to build: no loads since the last build")
        return
    rows = ", ".join(f"{name} {count:,}" for name, count in summary.rows.items())
    print(f"built {summary.window.start:%Y-%m-%d}..{summary.window.end:%Y-%m-%d} "
          f"({summary.days} days) in {summary.seconds:.1f} s: {rows}")


def _demo(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.build import build
    from gpucost.ingest.simulate import SimConfig, simulate_to_warehouse
    from gpucost.warehouse import open_warehouse

    if not 8 <= args.gpus <= 10_000:
        raise GpucostError(f"--gpus must be between 8 and 10000, got {args.gpus}")
    cfg = SimConfig(gpus=args.gpus, days=args.days, seed=args.seed,
                    step_seconds=settings.step_seconds, cluster="demo")
    with open_warehouse(settings, create=True) as con:
        sim = simulate_to_warehouse(con, cfg, progress=_progress("simulate"))
        print(f"simulated {sim.gpus} GPUs on {sim.nodes} nodes, {sim.pods} pods, "
              f"{sim.dcgm_rows:,} DCGM samples into {settings.db}")
        build(con, settings, progress=_progress("build"))
        print(_summary(con))
    if not args.no_serve:
        _serve(settings, args.host, args.port)


def _summary(con) -> str:
    from gpucost.dashboard.queries import cost_by_state, cost_by_team, headline

    h = headline(con).iloc[0]
    if not h["gpu_usage_rows"]:
        return "no GPU usage in the warehouse yet"
    lines = [f"window        {h['first_ts']:%Y-%m-%d %H:%M} .. {h['last_ts']:%Y-%m-%d %H:%M} UTC (step starts)",
             f"GPU spend     ${h['spend_usd']:,.2f}",
             f"GPU-hours     {h['gpu_hours']:,.1f}",
             f"utilisation   {h['util_pct']:.1f} % of allocated, observed GPU time",
             "spend by GPU state"]
    for row in cost_by_state(con).itertuples():
        lines.append(f"  {row.state:<15} ${row.cost_usd:>13,.2f}  {row.share * 100:5.1f} %")
    lines.append("cost by team (idle part in brackets)")
    for row in cost_by_team(con).itertuples():
        lines.append(f"  {row.team:<15} ${row.cost_usd:>13,.2f}  (${row.idle_cost_usd:,.2f})")
    return "\n".join(lines)


def _serve(settings: Settings, host: str, port: int) -> None:
    from gpucost.dashboard.app import serve
    from gpucost.warehouse import open_warehouse

    with open_warehouse(settings, read_only=True):
        pass  # refuse to start on a missing or foreign warehouse
    print(f"serving http://{host}:{port}/ (Ctrl-C to stop)", file=sys.stderr)
    serve(settings, host=host, port=port)


def _collect_prices(settings: Settings, args: argparse.Namespace) -> None:
    from datetime import timedelta

    from gpucost.ingest.catalog import catalog
    from gpucost.ingest.prices import collect_ondemand_prices, collect_spot_prices
    from gpucost.warehouse import open_warehouse

    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    with open_warehouse(settings, create=True) as con:
        seen_types, first_seen = con.execute(
            "select list(distinct instance_type order by instance_type), min(valid_from) from raw_nodes "
            "where instance_type is not null and gpu_count > 0").fetchone()
        types = args.instance_types or seen_types or sorted(
            t for t, it in catalog().items() if it.accelerator == "gpu")
        start = args.start or first_seen or now - timedelta(days=7)
        end = args.end or now
        for region in args.region or [settings.region]:
            spot = collect_spot_prices(con, region=region, instance_types=types, start=start, end=end)
            listed = collect_ondemand_prices(con, region=region, instance_types=types, as_of=now)
            print(f"{region}: {spot:,} spot prices ({start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M}), "
                  f"{listed:,} on-demand prices for {len(types)} instance types")


def _collect_billing(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.ingest.billing import import_billing
    from gpucost.warehouse import open_warehouse

    with open_warehouse(settings, create=True) as con:
        summary = import_billing(con, args.path, args.format, force=args.force)
    print(f"{summary.files_loaded} files loaded ({summary.rows_loaded:,} line items), "
          f"{summary.files_skipped} unchanged and skipped")


def _placement(args: argparse.Namespace) -> None:
    from gpucost.analytics.placement import COLUMNS, simulate
    from gpucost.ingest.alibaba import read_nodes, read_pods

    try:
        result = simulate(read_nodes(args.nodes), read_pods(args.pods), args.policy,
                          inflation=args.inflation, seed=args.seed)
    except ValueError as exc:
        raise GpucostError(f"placement simulate: {exc}") from None
    rows = [tuple(r.as_dict()[c] for c in COLUMNS) for r in result.rows]
    text = format_rows(COLUMNS, rows, args.format)
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)
    print(f"{args.policy}, seed {args.seed}: {result.n_placed:,} of {result.n_offered:,} pods placed, "
          f"{result.n_skipped:,} skipped; GPU allocation at 100 % arrived workload "
          f"{_alloc_at_100(result)}", file=sys.stderr)


def _alloc_at_100(result) -> str:
    try:
        return f"{result.alloc_at(100):.1f} %"
    except KeyError:
        return "n/a (workload never reached 100 %)"


def _query(settings: Settings, sql: str, fmt: str) -> None:
    import duckdb

    from gpucost.warehouse import open_warehouse

    with open_warehouse(settings, read_only=True) as con:
        try:
            cursor = con.execute(sql)
        except duckdb.Error as exc:
            raise GpucostError(f"query failed: {str(exc).splitlines()[0]}") from None
        if cursor.description is None:
            return
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    sys.stdout.write(format_rows(names, rows, fmt))


def _cell(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def format_rows(names: Sequence[str], rows: Sequence[Sequence[object]], fmt: str) -> str:
    """Render query results as an aligned text table, CSV or a JSON array of objects."""
    if fmt == "json":
        return json.dumps([dict(zip(names, map(_cell, r))) for r in rows], default=str) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([["" if v is None else _cell(v) for v in r] for r in rows])
        return out.getvalue()
    text = [[str(n) for n in names]] + [["" if v is None else str(_cell(v)) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in text) for i in range(len(names))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in text]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n({len(rows)} rows)\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config, db=args.db)
        if args.command == "demo":
            _demo(settings, args)
        elif args.command == "build":
            _build(settings, args.start, args.end)
        elif args.command == "query":
            _query(settings, args.sql, args.format)
        elif args.command == "collect" and args.source == "prices":
            _collect_prices(settings, args)
        elif args.command == "collect" and args.source == "billing":
            _collect_billing(settings, args)
        elif args.command == "placement":
            _placement(args)
        elif args.command == "serve":
            _serve(settings, args.host, args.port)
    except GpucostError as exc:
        print(f"gpucost: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("gpucost: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
