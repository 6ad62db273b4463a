"""`gpucost import alibaba-genai-2026`: load a public trace into the warehouse, then build.

The trace's pods become raw_* rows like a collector's (ingest/genai.py), so the idle
analytics run on real utilisation; the command builds the window it loaded and prints the
GPU-hours per state and the idle share of allocated GPU-hours.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gpucost.commands.args import add_command
from gpucost.settings import Settings

IDLE_SHARE_SQL = """
select
    sum(gpu_hours) filter (where state = 'active')          as active_gpu_hours,
    sum(gpu_hours) filter (where state = 'allocated_idle')  as idle_gpu_hours,
    sum(gpu_hours) filter (where state = 'no_data')         as no_data_gpu_hours,
    sum(cost_usd)                                           as cost_usd
from gpu_usage
where cluster = $cluster and namespace = $namespace and ts >= $start and ts < $end
"""


def register(sub) -> None:
    imp = sub.add_parser("import", help="load a public trace into the warehouse")
    what = imp.add_subparsers(dest="trace", required=True, metavar="TRACE")
    genai = add_command(what, "alibaba-genai-2026",
                        "Alibaba GenAI serving trace: per-pod GPU duty cycle and memory as DCGM samples", run_genai)
    genai.add_argument("--duty-cycle", type=Path, required=True, help="pod_gpu_duty_cycle_anon.csv")
    genai.add_argument("--memory", type=Path, required=True, help="pod_gpu_memory_used_bytes_anon.csv")
    genai.add_argument("--instance-type", default="g6e.xlarge",
                       help="instance type that prices each pod's node (default g6e.xlarge)")


def idle_share(con, cluster: str, window) -> dict[str, float]:
    """GPU-hours of the imported pods per state and idle / (active + idle), from gpu_usage."""
    from gpucost.ingest.genai import NAMESPACE

    active, idle, no_data, cost = con.execute(IDLE_SHARE_SQL, {
        "cluster": cluster, "namespace": NAMESPACE, "start": window.start, "end": window.end}).fetchone()
    active, idle = active or 0.0, idle or 0.0
    return {"active_gpu_hours": active, "idle_gpu_hours": idle, "no_data_gpu_hours": no_data or 0.0,
            "cost_usd": cost or 0.0, "idle_share": idle / (active + idle) if active + idle else float("nan")}


def run_genai(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.build import build
    from gpucost.ingest.genai import import_genai
    from gpucost.warehouse import open_warehouse, publish_snapshot

    with open_warehouse(settings, create=True) as con:
        loaded = import_genai(con, args.duty_cycle, args.memory, settings.step_seconds, settings.cluster,
                              args.instance_type)
        build(con, settings, loaded.window)
        publish_snapshot(con, settings)
        s = idle_share(con, settings.cluster, loaded.window)
    print(f"imported {loaded.pods} pods, {loaded.steps:,} pod-steps of {settings.step_seconds} s "
          f"({loaded.window.start:%Y-%m-%d} to {loaded.window.end:%Y-%m-%d}); built")
    print(f"GPU-hours: active {s['active_gpu_hours']:,.1f}, allocated idle {s['idle_gpu_hours']:,.1f} "
          f"(idle share {s['idle_share']:.1%} below {settings.idle_threshold_pct:g} % duty cycle), "
          f"no data {s['no_data_gpu_hours']:,.1f}; GPU cost ${s['cost_usd']:,.2f}")
