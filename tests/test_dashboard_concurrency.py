"""The dashboard keeps serving while a collection runs in another process.

A writer subprocess holds the warehouse open for writing (DuckDB lets no other process read
the file meanwhile) and keeps re-loading a simulated day, building it and publishing the
snapshot. Meanwhile every page is loaded in headless Chromium and /healthz and /metrics are
polled: no request may fail, no page may say the warehouse is unavailable, and since the
writer reloads the same deterministic day, the numbers shown never change.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import pytest

from gpucost.build import build
from gpucost.ingest.simulate import SimConfig, simulate_to_warehouse
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse, publish_snapshot, snapshot_path
from test_dashboard import _Server

PAGES = ("/", "/utilisation", "/jobs", "/teams", "/prices")
SIM = dict(gpus=16, days=1, seed=11)
PUBLISHES_WANTED = 2          # the writer must publish this many times while pages load
DEADLINE_S = 60.0

WRITER = textwrap.dedent("""
    import sys, time
    from datetime import datetime
    from pathlib import Path
    from gpucost.build import build
    from gpucost.ingest.simulate import SimConfig, simulate_to_warehouse
    from gpucost.settings import Settings
    from gpucost.warehouse import open_warehouse, publish_snapshot

    db, stop, gpus, days, seed = Path(sys.argv[1]), Path(sys.argv[2]), *map(int, sys.argv[3:6])
    settings = Settings(db=db)
    deadline = time.monotonic() + 90
    with open_warehouse(settings) as con:          # held for writing the whole time
        print("locked", flush=True)
        n = 0
        while not stop.exists() and time.monotonic() < deadline:
            # the same world, re-collected: loads replace their window's rows
            simulate_to_warehouse(con, SimConfig(gpus=gpus, days=days, seed=seed))
            build(con, settings)
            publish_snapshot(con, settings)
            n += 1
            print(f"published {n}", flush=True)
""")


@pytest.fixture()
def warehouse(tmp_path) -> Settings:
    settings = Settings(db=tmp_path / "w.duckdb")
    with open_warehouse(settings, create=True) as con:
        simulate_to_warehouse(con, SimConfig(**SIM))
        build(con, settings)
        publish_snapshot(con, settings)
    return settings


def test_pages_keep_loading_while_a_collection_writes(warehouse, tmp_path, browser):
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(warehouse.db), str(stop),
                               *(str(SIM[k]) for k in ("gpus", "days", "seed"))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(writer.stdout.readline, "")), daemon=True)
    reader.start()
    problems: list[str] = []
    seen: dict[str, set[str]] = {}
    polls = 0
    try:
        started = time.monotonic()
        while "locked\n" not in lines:
            assert writer.poll() is None, writer.stderr.read()
            assert time.monotonic() - started < 30, "writer did not start"
            time.sleep(0.1)
        with _Server(warehouse) as srv:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            page = ctx.new_page()
            page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
            first = sum(line.startswith("published") for line in lines)
            rounds = 0
            while (sum(line.startswith("published") for line in lines) - first < PUBLISHES_WANTED
                   or rounds < 1):
                assert time.monotonic() - started < DEADLINE_S, f"writer too slow: {lines}"
                assert writer.poll() is None, writer.stderr.read()
                for path in PAGES:
                    page.goto(srv.url + path)
                    page.wait_for_function("() => document.querySelector('h1') && "
                                           "!document.body.innerText.includes('Loading…')", timeout=20000)
                    subtitle = page.inner_text("h1 + div")
                    assert subtitle.startswith("Window: "), subtitle
                    if path == "/":
                        seen.setdefault("spend", set()).add(page.inner_text("#card-spend-value"))
                    for probe in ("/healthz", "/metrics"):
                        with urllib.request.urlopen(srv.url + probe, timeout=10) as resp:
                            assert resp.status == 200
                            if probe == "/metrics":
                                assert b"gpucost_warehouse_up 1" in resp.read()
                        polls += 1
                rounds += 1
            ctx.close()
    finally:
        stop.touch()
        try:
            writer.wait(timeout=60)
        finally:
            if writer.poll() is None:
                writer.kill()
    assert writer.returncode == 0, writer.stderr.read()
    assert problems == []
    assert len(seen["spend"]) == 1, seen          # the same world, whichever snapshot was read
    assert polls >= 2 * len(PAGES)
    assert snapshot_path(warehouse).exists()
