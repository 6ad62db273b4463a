"""`gpucost build [--start T --end T]`: raw tables -> marts, incremental by day."""

from __future__ import annotations

import argparse

from gpucost.commands.args import add_command, timestamp
from gpucost.commands.output import progress
from gpucost.errors import GpucostError
from gpucost.settings import Settings


def register(sub) -> None:
    parser = add_command(sub, "build", "turn raw tables into the public marts (incremental)", run)
    parser.add_argument("--start", type=timestamp, help="window start (UTC; widened to whole days)")
    parser.add_argument("--end", type=timestamp, help="window end, exclusive")


def run(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.build import build
    from gpucost.ingest.loads import Window
    from gpucost.warehouse import open_warehouse, publish_snapshot

    if (args.start is None) != (args.end is None):
        raise GpucostError("give both --start and --end, or neither")
    window = Window(args.start, args.end) if args.start else None
    with open_warehouse(settings) as con:
        summary = build(con, settings, window, progress=progress("build"))
        if summary.window is not None:
            publish_snapshot(con, settings)
    if summary.window is None:
        print("nothing to build: no loads since the last build")
        return
    rows = ", ".join(f"{name} {count:,}" for name, count in summary.rows.items())
    print(f"built {summary.window.start:%Y-%m-%d}..{summary.window.end:%Y-%m-%d} "
          f"({summary.days} days) in {summary.seconds:.1f} s: {rows}")
