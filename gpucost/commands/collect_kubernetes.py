"""`gpucost collect kubernetes [FILE ...] [--kubeconfig K --context C | --in-cluster]`: which
GPU each DRA ResourceClaim holds, from a live cluster (official client) or from
`kubectl get resourceslices,resourceclaims,deviceclasses,nodes -o yaml` files, into
raw_dra_allocations (a snapshot, one load per minute observed). The build gives a pod its
claims' devices when no collector saw which GPU it used."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gpucost.commands.args import add_command
from gpucost.errors import GpucostError
from gpucost.settings import Settings


def register(what) -> None:
    k8s = add_command(what, "kubernetes", "DRA ResourceClaims/ResourceSlices: which GPU each claim holds", run)
    k8s.add_argument("files", nargs="*", type=Path, metavar="FILE",
                     help="kubectl -o json|yaml output to read instead of a live cluster")
    k8s.add_argument("--kubeconfig", help="kubeconfig file (default: the client's usual lookup)")
    k8s.add_argument("--context", help="kubeconfig context")
    k8s.add_argument("--in-cluster", action="store_true", help="use the pod's service account")


def run(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.ingest.kubernetes import allocation_rows, inventory, load_files, read_cluster
    from gpucost.ingest.loads import Window, load_tables
    from gpucost.warehouse import open_warehouse

    if args.files and (args.kubeconfig or args.context or args.in_cluster):
        raise GpucostError("give either FILEs or a cluster (--kubeconfig/--context/--in-cluster), not both")
    for f in args.files:
        if not f.is_file():
            raise GpucostError(f"{f}: no such file")
    objects = load_files(args.files) if args.files else read_cluster(args.kubeconfig, args.context, args.in_cluster)
    inv = inventory(objects)
    now = datetime.now(timezone.utc).replace(tzinfo=None, second=0, microsecond=0)
    table = allocation_rows(inv, settings.cluster, now)
    with open_warehouse(settings, create=True) as con:
        load_tables(con, "kubernetes", Window(now, now + timedelta(minutes=1)), [("raw_dra_allocations", table)])
    gpus = sum(1 for d in inv.devices if d.is_gpu)
    print(f"read {len(inv.devices)} DRA devices ({gpus} GPUs) in {len({d.pool for d in inv.devices})} pools, "
          f"{len(inv.allocations)} claim allocations -> {table.num_rows} GPU allocation rows, "
          f"{len(inv.classes)} device classes, {len(inv.nodes)} nodes with GPU labels")
