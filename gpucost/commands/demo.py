"""`gpucost demo`: simulate a GPU fleet, build the marts and serve the dashboard."""

from __future__ import annotations

import argparse

from gpucost.commands import recommend, serve
from gpucost.commands.args import add_command, positive_float, positive_int
from gpucost.commands.output import progress
from gpucost.errors import GpucostError
from gpucost.settings import Settings


def register(sub) -> None:
    parser = add_command(sub, "demo", "simulate a GPU fleet, build the marts and serve the dashboard", run)
    parser.add_argument("--gpus", type=positive_int, default=64, help="GPUs in the fleet (8..10000, default 64)")
    parser.add_argument("--days", type=positive_float, default=7.0, help="days simulated (default 7)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--no-serve", action="store_true", help="build and print a summary, do not serve")
    serve.add_server_options(parser)


def run(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.build import build
    from gpucost.ingest.simulate import SimConfig, simulate_to_warehouse
    from gpucost.warehouse import open_warehouse, publish_snapshot

    if not 8 <= args.gpus <= 10_000:
        raise GpucostError(f"--gpus must be between 8 and 10000, got {args.gpus}")
    cfg = SimConfig(gpus=args.gpus, days=args.days, seed=args.seed,
                    step_seconds=settings.step_seconds, cluster="demo")
    with open_warehouse(settings, create=True) as con:
        sim = simulate_to_warehouse(con, cfg, progress=progress("simulate"))
        print(f"simulated {sim.gpus} GPUs on {sim.nodes} nodes, {sim.pods} pods, "
              f"{sim.dcgm_rows:,} DCGM samples into {settings.db}")
        build(con, settings, progress=progress("build"))
        print(recommend.compute(con, settings))
        publish_snapshot(con, settings)
        print(summary(con))
    if not args.no_serve:
        serve.run(settings, args)


def summary(con) -> str:
    """Headline numbers, spend by GPU state and cost by team, as text."""
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
