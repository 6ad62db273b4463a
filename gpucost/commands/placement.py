"""`gpucost placement simulate`: replay a workload under a scheduling policy (FGD paper)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpucost.analytics.placement import POLICIES
from gpucost.commands.args import add_command, positive_float
from gpucost.commands.output import format_rows
from gpucost.errors import GpucostError
from gpucost.settings import Settings

def register(sub) -> None:
    placement = sub.add_parser("placement", help="placement what-if replays (FGD paper protocol)")
    what = placement.add_subparsers(dest="action", required=True, metavar="ACTION")
    simulate = add_command(what, "simulate", "replay a pod list onto a node list under a policy", run)
    simulate.add_argument("--nodes", type=Path, required=True, help="node CSV (sn,cpu_milli,memory_mib,gpu,model)")
    simulate.add_argument("--pods", type=Path, required=True,
                          help="pod CSV (name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec])")
    simulate.add_argument("--policy", required=True, choices=POLICIES)
    simulate.add_argument("--inflation", type=positive_float, default=1.3,
                          help="append sampled pods until requests reach this x GPU capacity (default 1.3)")
    simulate.add_argument("--seed", type=int, default=42)
    simulate.add_argument("--format", choices=("csv", "json"), default="csv")
    simulate.add_argument("--out", type=Path, help="write here instead of stdout")


def run(settings: Settings, args: argparse.Namespace) -> None:
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
