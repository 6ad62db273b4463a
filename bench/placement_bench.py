"""Benchmark: the FGD paper's six placement policies on the Alibaba trace, next to its numbers.

    .venv/bin/python bench/placement_bench.py                       # 6 policies x seeds 42-51
    .venv/bin/python bench/placement_bench.py --seeds 3 --policies fgd,best-fit

Replays openb_pod_list_default onto openb_node_list_gpu_node (1,213 nodes, 6,212 GPUs) from
../shared/data/alibaba-gpu-2023 (or --data DIR, or $GPUCOST_SHARED_DATA/alibaba-gpu-2023),
inflated to 130 % of GPU capacity, once per policy and seed, and prints per policy the GPU
allocation share at 100 % arrived workload (mean, min, max over seeds) beside the published
mean of seeds 42-51 (Weng et al., USENIX ATC'23, artifact hkust-adsl/kubernetes-scheduler-
simulator, experiments/analysis/expected_results), and the median wall time of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from gpucost.analytics.placement import POLICIES, simulate
from gpucost.ingest.alibaba import read_nodes, read_pods

REPO = Path(__file__).resolve().parents[1]

# GPU allocation (%) at 100 % arrived workload, mean of seeds 42-51, from the FGD artifact.
PAPER = {"random": 86.3, "dot-product": 90.6, "gpu-clustering": 91.7, "gpu-packing": 91.8,
         "best-fit": 92.9, "fgd": 95.2}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("GPUCOST_SHARED_DATA", REPO.parent / "shared" / "data")) / "alibaba-gpu-2023"
    parser.add_argument("--data", type=Path, default=default, help="folder with the openb CSV files")
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds, counting from 42 (default 10)")
    parser.add_argument("--policies", default=",".join(POLICIES), help="comma-separated subset of policies")
    parser.add_argument("--inflation", type=float, default=1.3)
    parser.add_argument("--json", type=Path, help="also write every run's result here")
    args = parser.parse_args()
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        parser.error(f"unknown policies {unknown}; choose from {', '.join(POLICIES)}")
    if not (args.data / "openb_pod_list_default.csv").is_file():
        print(f"trace not found in {args.data} (give --data or set GPUCOST_SHARED_DATA)", file=sys.stderr)
        return 1
    nodes = read_nodes(args.data / "openb_node_list_gpu_node.csv")
    pods = read_pods(args.data / "openb_pod_list_default.csv")
    seeds = list(range(42, 42 + args.seeds))
    print(f"{len(nodes)} nodes / {nodes.total_gpus} GPUs, {len(pods)} trace pods, inflation {args.inflation}, "
          f"seeds {seeds[0]}-{seeds[-1]}", file=sys.stderr)

    runs = []
    for policy in policies:
        for seed in seeds:
            started = time.perf_counter()
            result = simulate(nodes, pods, policy, inflation=args.inflation, seed=seed)
            seconds = time.perf_counter() - started
            runs.append({"policy": policy, "seed": seed, "alloc_at_100": result.alloc_at(100), "seconds": seconds,
                         "offered": result.n_offered, "skipped": result.n_skipped})
            print(f"  {policy:15s} seed {seed}: {runs[-1]['alloc_at_100']:6.2f} % in {seconds:5.1f} s", file=sys.stderr)

    print(f"\nGPU allocation at 100 % arrived workload, {len(seeds)} seed(s) from 42 "
          f"(paper: mean of seeds 42-51)\n")
    print(f"{'policy':15s} {'paper %':>8s} {'mean %':>8s} {'diff pp':>8s} {'min %':>7s} {'max %':>7s} {'s/run':>6s}")
    means = {}
    for policy in policies:
        mine = [r for r in runs if r["policy"] == policy]
        alloc = [r["alloc_at_100"] for r in mine]
        means[policy] = statistics.mean(alloc)
        print(f"{policy:15s} {PAPER[policy]:8.1f} {means[policy]:8.2f} {means[policy] - PAPER[policy]:+8.2f} "
              f"{min(alloc):7.2f} {max(alloc):7.2f} {statistics.median(r['seconds'] for r in mine):6.1f}")
    print("\norder by mean, here:  " + " < ".join(sorted(means, key=means.get)))
    print("order by mean, paper: " + " < ".join(sorted(means, key=PAPER.get)))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"paper": PAPER, "runs": runs}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
