"""`gpucost query "SQL" [--format table|csv|json]`: read-only SQL on the warehouse."""

from __future__ import annotations

import argparse
import sys

from gpucost.commands.args import add_command
from gpucost.commands.output import format_rows
from gpucost.errors import GpucostError
from gpucost.settings import Settings


def register(sub) -> None:
    parser = add_command(sub, "query", "run read-only SQL against the warehouse", run)
    parser.add_argument("sql", help="SQL text, e.g. \"select * from job_costs limit 5\"")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")


def run(settings: Settings, args: argparse.Namespace) -> None:
    import duckdb

    from gpucost.warehouse import open_warehouse

    with open_warehouse(settings, read_only=True) as con:
        try:
            cursor = con.execute(args.sql)
        except duckdb.Error as exc:
            raise GpucostError(f"query failed: {str(exc).splitlines()[0]}") from None
        if cursor.description is None:
            return
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    sys.stdout.write(format_rows(names, rows, args.format))
