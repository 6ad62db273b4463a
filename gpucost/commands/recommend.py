"""`gpucost recommend`: recompute the recommendations, publish them, export them.

Recomputes every rule over the window (default: the last 14 days of built data), replaces
the ``recommendations`` table in one transaction, publishes the snapshot, then writes the
rows (optionally only some kinds, or those saving at least --min-savings a month) to --out
or stdout. Progress and the summary go to stderr. See docs/recommendations.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpucost.commands.args import add_command, timestamp
from gpucost.errors import GpucostError
from gpucost.settings import Settings


def _money(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def _kind(text: str) -> str:
    from gpucost.analytics.recommend.runner import kinds

    if text not in kinds():
        raise argparse.ArgumentTypeError(f"unknown kind {text!r} (one of {', '.join(kinds())})")
    return text


def register(sub) -> None:
    parser = add_command(sub, "recommend", "recompute the recommendations with $ savings and export them", run)
    parser.add_argument("--format", choices=("csv", "json", "parquet", "yaml", "md"), default="csv",
                        help="csv, json, parquet (needs --out), yaml (Kubernetes patches) or md (default csv)")
    parser.add_argument("--out", type=Path, help="write here instead of stdout")
    parser.add_argument("--min-savings", type=_money, default=0.0, metavar="USD",
                        help="export only recommendations saving at least this per month")
    parser.add_argument("--kind", action="append", type=_kind, metavar="K",
                        help="export only this kind (repeatable), e.g. idle-reclaim, spot, repack; "
                             "docs/recommendations.md lists them")
    parser.add_argument("--start", type=timestamp, help="window start (default: 14 days before the end)")
    parser.add_argument("--end", type=timestamp, help="window end (default: the end of the built data)")
    parser.set_defaults(usage_error=parser.error)


def run(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.analytics.recommend import export
    from gpucost.warehouse import open_warehouse, publish_snapshot

    if args.format == "parquet" and args.out is None:
        args.usage_error("--format parquet needs --out PATH")  # exits 2, like argparse
    if args.out is not None and not args.out.parent.exists():
        raise GpucostError(f"cannot write {args.out}: folder {args.out.parent} does not exist")
    with open_warehouse(settings) as con:
        summary = compute(con, settings, args.start, args.end)
        rows = export.read_table(con, args.kind, args.min_savings)
        publish_snapshot(con, settings)
    text = export.export(rows, args.format, args.out)
    if text is not None:
        if args.out:
            args.out.write_text(text)
        else:
            sys.stdout.write(text)
    print(f"{summary}; exported {len(rows)} to {args.out or 'stdout'} as {args.format}", file=sys.stderr)


def compute(con, settings: Settings, start=None, end=None) -> str:
    """Recompute and write the recommendations table; returns a one-line summary."""
    from gpucost.analytics.recommend import runner

    window = runner.data_window(con)
    if window is None:
        raise GpucostError("no built GPU usage in the warehouse (run `gpucost demo`, a collector and `gpucost build`)")
    if start is not None or end is not None:
        window = runner.hour_window(start or window.start, end or window.end)
        if window.end <= window.start:
            raise GpucostError(f"--start {window.start} must be before --end {window.end}")
    counts: dict[str, int] = {}
    recs = runner.recommend(con, window, progress=lambda kind, n: counts.__setitem__(kind, n))
    runner.write(con, recs)
    total = sum(r.monthly_savings_usd for r in recs)
    parts = ", ".join(f"{k} {n}" for k, n in counts.items())
    return (f"recommend: {window.start:%Y-%m-%d %H:%M}..{window.end:%Y-%m-%d %H:%M} UTC, "
            f"{len(recs)} recommendations ({parts}), ${total:,.2f}/month")
