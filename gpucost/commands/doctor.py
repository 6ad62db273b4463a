"""`gpucost doctor [--prometheus URL]`: is the data gpucost needs there, and is the
warehouse in shape?

Warehouse (when the --db file exists): schema version against this gpucost, loads per
source (windows, last window end, rows) and the last build. Prometheus (when --prometheus
or $GPUCOST_PROMETHEUS_URL is given): see gpucost.ingest.prometheus.health. Prints one line
per finding; exits 0 when nothing is a problem, 1 listing the problems.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpucost.commands.args import add_command, timestamp
from gpucost.commands.collect_prometheus import add_connection_options, connection_from_args, duration_seconds
from gpucost.errors import GpucostError
from gpucost.settings import Settings

MARK = {"ok": "ok  ", "info": "info", "warning": "warn", "problem": "FAIL"}


def register(sub) -> None:
    parser = add_command(sub, "doctor", "check the Prometheus data and the warehouse gpucost relies on", run)
    add_connection_options(parser, url_flag="--prometheus", required=False)
    parser.add_argument("--selector", default="", help="PromQL matchers added to every query")
    parser.add_argument("--time", type=timestamp, help="check the data before this UTC time (default now)")
    parser.add_argument("--lookback", type=duration_seconds, default=600, help="how far back to look (default 10m)")


def warehouse_findings(settings: Settings):
    import duckdb

    from gpucost.ingest.prometheus.health import INFO, OK, PROBLEM, WARNING, Finding
    from gpucost.warehouse import code_schema_version, schema_version

    path = Path(settings.db)
    if not path.exists():
        return [Finding(INFO, f"no warehouse at {path} yet (a collector or `gpucost demo` creates it)")]
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        return [Finding(PROBLEM, f"{path}: cannot open ({str(exc).splitlines()[0]})")]
    try:
        try:
            version = schema_version(con, path)
        except GpucostError as exc:
            return [Finding(PROBLEM, str(exc))]
        known = code_schema_version()
        out = [Finding(OK if version == known else (PROBLEM if version > known else WARNING),
                       f"warehouse {path}: schema version {version}"
                       + ("" if version == known else f" (this gpucost: {known}; "
                          + ("upgrade gpucost)" if version > known else "a writing command upgrades it)")))]
        if version == 0:
            return out
        loads = con.execute("""select source, count(distinct (window_start, window_end)), max(window_end),
                                      sum(row_count) filter (where table_name = 'raw_dcgm_samples')
                               from loads group by 1 order by 1""").fetchall()
        if not loads:
            out.append(Finding(WARNING, "no loads yet: run a collector (gpucost collect prometheus ...)"))
        for source, windows, last, dcgm in loads:
            out.append(Finding(OK, f"loads {source}: {windows} windows up to {last:%Y-%m-%d %H:%M} UTC"
                               + (f", {int(dcgm):,} DCGM rows" if dcgm else "")))
        built = con.execute("select built_at, window_start, window_end from builds order by built_at desc limit 1"
                            ).fetchone()
        if built:
            out.append(Finding(OK, f"last build {built[0]:%Y-%m-%d %H:%M} UTC over "
                                   f"{built[1]:%Y-%m-%d}..{built[2]:%Y-%m-%d}"))
        elif loads:
            out.append(Finding(WARNING, "never built: run `gpucost build`"))
        if version >= 3:
            out.extend(reconciliation_findings(con))
        return out
    finally:
        con.close()


def reconciliation_findings(con) -> list:
    """The gap between the bill and gpucost's computed cost (reconciliation table), when
    billing line items are loaded: a warning past 5 % of the billed effective cost."""
    from gpucost.ingest.prometheus.health import OK, WARNING, Finding

    billed, computed, gap, days = con.execute("""
        select sum(effective_cost_usd), sum(computed_cost_usd), sum(difference_usd), count(distinct day)
        from reconciliation where effective_cost_usd is not null""").fetchone()
    if not days:
        return []
    reasons = con.execute("""select explanation, count(*) from reconciliation
                             group by 1 order by 2 desc, 1""").fetchall()
    share = abs(gap) / abs(billed) if billed else 0.0
    text = (f"bill vs computed over {days} billed days: effective ${billed:,.2f}, computed "
            f"${computed or 0:,.2f}, gap ${gap:,.2f} ({share:.1%}); instance-days: "
            + ", ".join(f"{n} {reason}" for reason, n in reasons))
    return [Finding(WARNING if share > 0.05 else OK, text)]


def run(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.ingest.prometheus import PromClient
    from gpucost.ingest.prometheus.health import PROBLEM, Finding, check_prometheus
    from gpucost.ingest.prometheus.windows import EPOCH

    findings = warehouse_findings(settings)
    if args.url:
        at = (args.time - EPOCH).total_seconds() if args.time else None
        with PromClient(connection_from_args(args)) as client:
            findings += check_prometheus(client, args.selector, at, args.lookback, settings.step_seconds)
    else:
        findings.append(Finding("info", "no --prometheus given: Prometheus not checked"))
    for f in findings:
        print(f"{MARK[f.level]}  {f.message}")
    problems = [f for f in findings if f.level == PROBLEM]
    if problems:
        sys.stdout.flush()
        raise GpucostError(f"{len(problems)} problem(s): " + "; ".join(f.message for f in problems))
