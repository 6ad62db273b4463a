"""Benchmark: weekly report generation on a 1,000-GPU x 30-day warehouse.

Build the warehouse once (about 4 minutes; the report only reads it, from its snapshot):

    nohup .venv/bin/gpucost --db /tmp/big-report.duckdb demo --gpus 1000 --days 30 --no-serve \
        > /tmp/big-report.log 2>&1 &

then:

    .venv/bin/python bench/report_bench.py --db /tmp/big-report.duckdb --runs 3

Each case runs `gpucost.report.weekly.generate` for the last complete week in a fresh
process (so Chromium's start for kaleido and the warehouse open are counted every time) and
reports the median wall time of each phase: query (one scan of gpu_usage over two weeks plus
the per-scope queries), charts (kaleido PNGs, including Chromium's start), write (HTML,
Markdown, JSON, CSV) and pdf (Chromium print-to-pdf), with peak RSS. Cases: the fleet report;
the fleet report with --pdf; one report per team (--team all). Results also go to
bench/results/report_bench.json (not committed).
"""

from __future__ import annotations

import argparse
import json
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
db, out, team, pdf = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] or None, sys.argv[4] == "1"
from gpucost.report.weekly import Timings, generate
from gpucost.settings import Settings
timings = Timings()
started = time.perf_counter()
written = generate(Settings(db=db), out, team=team, pdf=pdf, timings=timings)
wall = time.perf_counter() - started
rows = sum(w.report.totals.gpu_usage_rows for w in written if w.report.scope == "fleet")
print(json.dumps({"wall_s": wall, "query_s": timings.query_s, "charts_s": timings.charts_s,
                  "write_s": timings.write_s, "pdf_s": timings.pdf_s, "reports": timings.reports,
                  "charts": timings.charts, "week": written[0].report.week if written else None,
                  "fleet_rows": rows,
                  "files": sum(len(w.files) for w in written),
                  "bytes": sum(p.stat().st_size for w in written for p in w.files),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CASES = [("fleet", "", False), ("fleet --pdf", "", True), ("--team all", "all", False)]


def run_case(db: Path, team: str, pdf: bool, work: Path) -> dict:
    with tempfile.TemporaryDirectory(dir=work) as out:
        done = subprocess.run([sys.executable, "-c", CHILD, str(db), out, team, "1" if pdf else "0"],
                              capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"report failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path("/tmp/big-report.duckdb"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not args.db.exists():
        raise SystemExit(f"{args.db} not found: build it first (see this script's docstring)")
    work = Path(tempfile.mkdtemp(prefix="gpucost-report-bench-"))
    results = {}
    for name, team, pdf in CASES:
        runs = []
        for i in range(args.runs):
            started = time.perf_counter()
            runs.append(run_case(args.db, team, pdf, work))
            print(f"{name:<12} run {i + 1}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        results[name] = runs
    first = results["fleet"][0]
    print(f"\nweekly report, week {first['week']}, {first['fleet_rows']:,} gpu_usage rows in the week "
          f"(warehouse {args.db}), median of {args.runs} runs, seconds\n")
    cols = ["wall_s", "query_s", "charts_s", "write_s", "pdf_s"]
    print(f"{'case':<12} {'reports':>7} {'charts':>6} " + " ".join(f"{c[:-2]:>7}" for c in cols)
          + f" {'files':>5} {'MB out':>6} {'RSS MB':>6}")
    for name, runs in results.items():
        med = {c: statistics.median(r[c] for r in runs) for c in cols}
        r0 = runs[0]
        print(f"{name:<12} {r0['reports']:>7} {r0['charts']:>6} " + " ".join(f"{med[c]:>7.2f}" for c in cols)
              + f" {r0['files']:>5} {r0['bytes'] / 1e6:>6.1f} {max(r['peak_rss_mb'] for r in runs):>6.0f}")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "report_bench.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
