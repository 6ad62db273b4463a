"""Dashboard benchmark: server time of every page's data callbacks, and time to first render
in headless Chromium, on a big warehouse.

Build the warehouse once (1,000 GPUs x 30 days, ~47 M gpu_usage rows; ~4 min), then run::

    .venv/bin/gpucost --db /tmp/big.duckdb demo --gpus 1000 --days 30 --no-serve
    .venv/bin/python bench/dashboard_bench.py --db /tmp/big.duckdb [--repeat 20] [--renders 3] [--json out.json]

How: the app runs in a subprocess (the built-in threaded server on 127.0.0.1). Each page is
opened in Chromium under three filter scenarios (everything; the biggest team; the last 7
days); the callback requests the page makes are recorded, then each is replayed ``--repeat``
times over HTTP, one at a time, to get the server time per callback (p50/p95, loopback
round trip, JSON included). The app's result cache is off, so every replay runs its queries. Time to first render: navigation start until every graph of the
page has data (or its grid has rows), p50 over ``--renders`` loads after one warm-up load.
Target: p95 <= 300 ms per callback.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

SERVER = """
import sys
from pathlib import Path
from werkzeug.serving import make_server, WSGIRequestHandler
from gpucost.settings import Settings
from gpucost.dashboard.app import create_app
WSGIRequestHandler.log_request = lambda *a, **k: None
# result_cache_entries=0: every replay runs its queries (cold), as a first visit would.
app = create_app(Settings(db=Path(sys.argv[1])), result_cache_entries=0)
make_server("127.0.0.1", int(sys.argv[2]), app.server, threaded=True).serve_forever()
"""

# page -> JS condition that holds once the page has drawn its data
READY = {
    "/": "['overview-spend-by-state', 'overview-weekly', 'overview-cost-by-team']",
    "/utilisation": "['util-heatmap', 'util-states', 'util-series']",
    "/jobs": None,
    "/teams": "['teams-chargeback', 'teams-daily-chart']",
    "/prices": "['prices-history-chart', 'prices-sources-chart']",
    "/fragmentation": "['frag-over-time']",
    "/recommendations": None,
}
GRID = {"/jobs": "jobs-grid", "/teams": "teams-grid", "/prices": "prices-effective", "/fragmentation": "frag-nodes",
        "/recommendations": "recs-grid"}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready_js(path: str) -> str:
    parts = ["document.querySelector('h1') && !document.body.innerText.includes('Loading…')"]
    if READY[path]:
        parts.append(f"{READY[path]}.every(id => {{ const g = document.querySelector('#' + id + ' .js-plotly-plot');"
                     " return g && (g.data || []).length > 0; })")
    if path in GRID:
        parts.append(f"[...document.querySelectorAll('#{GRID[path]} .ag-cell')].some(c => c.innerText.trim() !== '')")
    return "() => (" + " && ".join(parts) + ") ? performance.now() : false"


def _name(body: dict) -> str:
    out = body.get("output", "")
    ids = sorted({part.split(".")[0] for part in out.strip(".").split("...")})
    return ",".join(i for i in ids if i)[:48]


def _scenarios(db: Path) -> dict[str, str]:
    import duckdb
    snap = db.with_name(db.name + ".snapshot")
    con = duckdb.connect(str(snap if snap.exists() else db), read_only=True)
    try:
        team = con.execute("select team from usage_hourly where job is not null group by team "
                           "order by sum(cost_usd) desc limit 1").fetchone()[0]
        last = con.execute("select max(hour) from usage_hourly").fetchone()[0]
    finally:
        con.close()
    first = (last - __import__("datetime").timedelta(days=6)).date()
    return {"all data": "", f"team={team}": f"?team={quote(team)}",
            "last 7 days": f"?from={first}&to={last.date()}"}


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q * (len(values) - 1)))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", type=Path, default=Path("/tmp/big.duckdb"))
    ap.add_argument("--repeat", type=int, default=20, help="replays per callback (default 20)")
    ap.add_argument("--renders", type=int, default=3, help="timed page loads per page and scenario")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    if not args.db.exists():
        print(f"no warehouse at {args.db}; build it with: gpucost --db {args.db} demo --gpus 1000 --days 30 "
              "--no-serve", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.db), str(port)])
    base = f"http://127.0.0.1:{port}"
    results: list[dict] = []
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        scenarios = _scenarios(args.db)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            for path in READY:
                for scenario, query in scenarios.items():
                    captured: list[dict] = []
                    renders = []
                    for i in range(args.renders + 1):   # the first load warms the browser cache
                        page = ctx.new_page()
                        if i == 0:
                            page.on("request", lambda r: captured.append(json.loads(r.post_data))
                                    if "_dash-update-component" in r.url and r.post_data else None)
                        page.goto(base + path + query)
                        handle = page.wait_for_function(_ready_js(path), timeout=120000, polling=50)
                        if i:
                            renders.append(float(handle.json_value()))
                        page.close()
                    # Replay this page's data callbacks (the shell's router and filter bar too).
                    seen = set()
                    for body in captured:
                        key = json.dumps(body, sort_keys=True)
                        if key in seen:
                            continue
                        seen.add(key)
                        times, size = [], 0
                        for _ in range(args.repeat):
                            req = urllib.request.Request(base + "/_dash-update-component", data=key.encode(),
                                                         headers={"Content-Type": "application/json"})
                            t0 = time.perf_counter()
                            with urllib.request.urlopen(req, timeout=60) as resp:
                                size = len(resp.read())
                            times.append((time.perf_counter() - t0) * 1000)
                        results.append({"page": path, "scenario": scenario, "callback": _name(body),
                                        "p50_ms": statistics.median(times), "p95_ms": _pct(times, 0.95),
                                        "max_ms": max(times), "kb": size / 1024,
                                        "render_p50_ms": statistics.median(renders)})
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(f"\nwarehouse {args.db}; {args.repeat} replays per callback; first render = p50 of {args.renders} loads\n")
    header = f"{'page':13} {'scenario':16} {'callback (outputs)':48} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'KB':>7}"
    print(header + f" {'render s':>8}")
    print("-" * (len(header) + 9))
    last = None
    for r in results:
        render = f"{r['render_p50_ms'] / 1000:8.2f}" if (r["page"], r["scenario"]) != last else ""
        last = (r["page"], r["scenario"])
        print(f"{r['page']:13} {r['scenario'][:16]:16} {r['callback']:48} {r['p50_ms']:7.0f} {r['p95_ms']:7.0f} "
              f"{r['max_ms']:7.0f} {r['kb']:7.1f} {render}")
    worst = max(results, key=lambda r: r["p95_ms"])
    print(f"\nworst callback p95: {worst['p95_ms']:.0f} ms ({worst['page']} {worst['scenario']} {worst['callback']}); "
          "target <= 300 ms")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
