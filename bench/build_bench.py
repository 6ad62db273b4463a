"""Benchmark: simulate and build N GPUs x D days, against the same build in pandas.

    .venv/bin/python bench/build_bench.py --gpus 1000 --days 30 --runs 3

Simulates once (timed), then for each run copies the raw warehouse and times, each in its
own process so peak RSS is that phase's alone: `gpucost build` (DuckDB, sql/models) and
the pandas baseline (bench/pandas_baseline.py). Checks both computed the same cost per
state, then prints medians and the ratio. Results also go to bench/results/ (not committed).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
phase, db, gpus, days, out = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), Path(sys.argv[5])
from gpucost.settings import Settings
settings = Settings(db=db)
started = time.perf_counter()
result = {}
if phase == "simulate":
    from gpucost.ingest.simulate import SimConfig, simulate_to_warehouse
    from gpucost.warehouse import open_warehouse
    with open_warehouse(settings, create=True) as con:
        summary = simulate_to_warehouse(con, SimConfig(gpus=gpus, days=days, seed=1))
    result["dcgm_rows"] = summary.dcgm_rows
elif phase == "build":
    from gpucost.build import build
    from gpucost.warehouse import open_warehouse
    with open_warehouse(settings) as con:
        summary = build(con, settings)
        result["rows"] = summary.rows
        result["model_seconds"] = summary.model_seconds
        result["states"] = {s: c for s, c in con.execute(
            "select state, sum(cost_usd) from gpu_usage group by state").fetchall()}
elif phase == "pandas":
    sys.path.insert(0, sys.argv[6])
    import pandas_baseline
    totals = pandas_baseline.run(db, settings, out)
    result["states"] = {s: float(c) for s, c in totals["states"].cost_usd.items()}
result["seconds"] = time.perf_counter() - started
result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(result))
"""


# marts `gpucost build` writes that bench/pandas_baseline.py does not compute
EXTRA_MARTS = ("fragmentation", "usage_hourly", "asset_costs", "reconciliation")


def child(phase: str, db: Path, args: argparse.Namespace, out: Path) -> dict:
    cmd = [sys.executable, "-c", CHILD, phase, str(db), str(args.gpus), str(args.days), str(out), str(HERE)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{phase} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, default=1000)
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="reuse <workdir>/raw.duckdb from an earlier run")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gpucost-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    raw = work / "raw.duckdb"
    sim_json = work / "simulate.json"
    if args.reuse and raw.exists() and sim_json.exists():
        sim = json.loads(sim_json.read_text())
    else:
        raw.unlink(missing_ok=True)
        print(f"simulating {args.gpus} GPUs x {args.days:g} days into {raw} ...", file=sys.stderr)
        sim = child("simulate", raw, args, work)
        sim_json.write_text(json.dumps(sim))
    print(f"  {sim['seconds']:.1f} s, peak RSS {sim['peak_rss_mb']:.0f} MB, "
          f"{sim['dcgm_rows']:,} DCGM rows, file {raw.stat().st_size / 2**30:.2f} GiB", file=sys.stderr)
    builds, baselines = [], []
    for i in range(args.runs):
        db = work / f"run{i}.duckdb"
        shutil.copyfile(raw, db)
        builds.append(child("build", db, args, work))
        print(f"run {i + 1}: build {builds[-1]['seconds']:.1f} s / {builds[-1]['peak_rss_mb']:.0f} MB",
              file=sys.stderr, end="")
        if not args.skip_pandas:
            baselines.append(child("pandas", raw, args, work / f"pandas{i}"))
            print(f", pandas {baselines[-1]['seconds']:.1f} s / {baselines[-1]['peak_rss_mb']:.0f} MB",
                  file=sys.stderr, end="")
            for state, cost in builds[-1]["states"].items():
                other = baselines[-1]["states"].get(state, 0.0)
                if abs(cost - other) > 1e-6 * max(1.0, abs(cost)):
                    raise SystemExit(f"pandas baseline disagrees on {state}: {other} vs {cost}")
        print(file=sys.stderr)
        db.unlink()

    def med(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    lines = [f"# build benchmark: {args.gpus} GPUs x {args.days:g} days at 60 s "
             f"({sim['dcgm_rows']:,} DCGM rows), median of {args.runs} runs",
             "", "| phase | wall s | peak RSS MB |", "|---|---:|---:|",
             f"| simulate + write raw (once) | {sim['seconds']:.1f} | {sim['peak_rss_mb']:.0f} |",
             f"| gpucost build (DuckDB) | {med(builds, 'seconds'):.1f} | {med(builds, 'peak_rss_mb'):.0f} |"]
    extra = [statistics.median(sum(r["model_seconds"].get(m, 0.0) for m in EXTRA_MARTS) for r in builds)]
    lines.append(f"| of which marts the pandas baseline does not compute ({', '.join(EXTRA_MARTS)}) "
                 f"| {extra[0]:.1f} | |")
    if baselines:
        lines.append(f"| pandas baseline | {med(baselines, 'seconds'):.1f} | {med(baselines, 'peak_rss_mb'):.0f} |")
        lines += ["", f"like for like (build minus those marts) vs pandas: "
                  f"{med(baselines, 'seconds') / (med(builds, 'seconds') - extra[0]):.1f}x"]
        lines += ["", f"build speed-up vs pandas: {med(baselines, 'seconds') / med(builds, 'seconds'):.1f}x; "
                  f"memory: {med(baselines, 'peak_rss_mb') / med(builds, 'peak_rss_mb'):.1f}x less; "
                  "both computed the same cost per state (checked)"]
    report = "\n".join(lines)
    print(report)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (results / f"build-{args.gpus}x{args.days:g}-{stamp}.json").write_text(json.dumps(
        {"simulate": sim, "builds": builds, "pandas": baselines, "report": report}, indent=1))


if __name__ == "__main__":
    main()
