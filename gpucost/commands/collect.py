"""`gpucost collect prices|billing`: load prices and bills into the warehouse."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

from gpucost.commands.args import add_command, timestamp
from gpucost.settings import Settings


def register(sub) -> None:
    collect = sub.add_parser("collect", help="load data from a source into the warehouse")
    what = collect.add_subparsers(dest="source", required=True, metavar="SOURCE")
    prices = add_command(what, "prices", "AWS spot price history and on-demand list prices (boto3)", run_prices)
    prices.add_argument("--region", action="append", help="AWS region (repeatable; default: settings region)")
    prices.add_argument("--instance-type", action="append", dest="instance_types",
                        help="instance type (repeatable; default: the cluster's GPU types, else the catalog's)")
    prices.add_argument("--start", type=timestamp,
                        help="spot history start (default: first node seen, else 7 days ago)")
    prices.add_argument("--end", type=timestamp, help="spot history end, exclusive (default: now)")
    billing = add_command(what, "billing", "billing export: FOCUS 1.x or AWS CUR (2.0 or legacy)", run_billing)
    billing.add_argument("path", metavar="SOURCE", help="s3://bucket/prefix, a file or a folder")
    billing.add_argument("--format", choices=("focus", "cur"), required=True)
    billing.add_argument("--force", action="store_true", help="re-import files already loaded unchanged")
    for extra in _extra_sources():
        extra.register(what)


def _extra_sources() -> tuple:
    """Collector subcommands that live in their own modules (each has register(what))."""
    from gpucost.commands import collect_kubernetes, collect_prometheus

    return (collect_prometheus, collect_kubernetes)


def run_prices(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.warehouse import open_warehouse

    with open_warehouse(settings, create=True) as con:
        for line in collect_prices(con, settings, regions=args.region, instance_types=args.instance_types,
                                   start=args.start, end=args.end):
            print(line)


def collect_prices(con, settings: Settings, *, regions: list[str] | None = None,
                   instance_types: list[str] | None = None, start: datetime | None = None,
                   end: datetime | None = None) -> Iterator[str]:
    """Spot history and on-demand list prices per region (default: settings region) for the
    given types (default: the cluster's GPU types, else the catalog's); yields one summary line
    per region as it is loaded. Also what `gpucost run --prices-every` runs."""
    from gpucost.ingest.catalog import catalog
    from gpucost.ingest.prices import collect_ondemand_prices, collect_spot_prices

    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    seen_types, first_seen = con.execute(
        "select list(distinct instance_type order by instance_type), min(valid_from) from raw_nodes "
        "where instance_type is not null and gpu_count > 0").fetchone()
    types = instance_types or seen_types or sorted(
        t for t, it in catalog().items() if it.accelerator == "gpu")
    start = start or first_seen or now - timedelta(days=7)
    end = end or now
    for region in regions or [settings.region]:
        spot = collect_spot_prices(con, region=region, instance_types=types, start=start, end=end)
        listed = collect_ondemand_prices(con, region=region, instance_types=types, as_of=now)
        yield (f"{region}: {spot:,} spot prices ({start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M}), "
               f"{listed:,} on-demand prices for {len(types)} instance types")


def run_billing(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.ingest.billing import import_billing
    from gpucost.warehouse import open_warehouse

    with open_warehouse(settings, create=True) as con:
        summary = import_billing(con, args.path, args.format, force=args.force)
    print(f"{summary.files_loaded} files loaded ({summary.rows_loaded:,} line items), "
          f"{summary.files_skipped} unchanged and skipped")
