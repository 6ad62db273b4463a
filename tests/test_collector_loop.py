"""`gpucost run`: the collector loop that keeps the dashboard's snapshot fresh.

The loop itself is tested on a fake clock (fixed rate, overruns, failures survived, stop).
End to end it runs outside a container against a real local Prometheus (Debian package)
scraping the live simulated exporter every second; world: 16 GPUs, seed 5, exporter
values change every 5 s, warehouse step 5 s. Expected: every cycle collects from the
watermark, builds and publishes the snapshot, and after each cycle the snapshot - read the
way the dashboard reads it - holds newer gpu_usage steps than after the one before, and the
dashboard app (started before the first snapshot) answers /healthz 200 from the first cycle on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from gpucost.commands.collector_loop import CollectorCycle, CycleOptions, Stopped, duration, run_loop
from gpucost.errors import GpucostError
from gpucost.ingest.exporter import SimExporter, make_server
from gpucost.ingest.prometheus import Connection
from gpucost.ingest.prometheus.local import LocalPrometheus, binaries, free_port
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse, snapshot_path

REPO = Path(__file__).resolve().parents[1]
GPUCOST = [sys.executable, "-m", "gpucost"]
needs_prometheus = pytest.mark.skipif(binaries() is None,
                                      reason="needs /usr/bin/prometheus (Debian package 'prometheus')")


class FakeClock:
    """Monotonic time that only moves when a cycle 'works' or the loop sleeps."""

    def __init__(self):
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> bool:
        self.sleeps.append(round(seconds, 6))
        self.t += seconds
        return False


def test_duration():
    assert [duration(t) for t in ("90", "90s", "5m", "6h", "7d")] == [90, 90, 300, 21600, 604800]
    for bad in ("0", "5x", "-1m", ""):
        with pytest.raises(Exception):
            duration(bad)


def test_loop_runs_at_a_fixed_rate_and_survives_failed_cycles():
    clock = FakeClock()
    lines: list[str] = []
    work = iter([(2, "first"), (1, GpucostError("Prometheus unreachable")), (3, RuntimeError("boom")), (2, "back")])

    def cycle() -> str:
        seconds, outcome = next(work)
        clock.t += seconds
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    result = run_loop(cycle, 10, cycles=4, clock=clock, sleep=clock.sleep, log=lines.append)
    assert (result.cycles, result.ok, result.failed, result.last_failed, result.stopped) == (4, 2, 2, False, False)
    assert clock.sleeps == [8, 9, 7]                     # cycles start at t0, t0+10, t0+20, t0+30
    assert lines[0] == "cycle 1 ok in 2.0 s: first"
    assert lines[1].startswith("cycle 2 failed after 1.0 s: Prometheus unreachable; retrying")
    assert lines[2].startswith("cycle 3 failed after 3.0 s: RuntimeError: boom; retrying")
    assert lines[3] == "cycle 4 ok in 2.0 s: back"


def test_an_overrunning_cycle_starts_the_next_at_once_and_skips_missed_ticks():
    clock = FakeClock()
    durations = iter([25, 1, 1])

    def cycle() -> str:
        clock.t += next(durations)
        return "ok"

    run_loop(cycle, 10, cycles=3, clock=clock, sleep=clock.sleep, log=lambda _: None)
    # cycle 1 ends at t0+25: ticks t0+10 and t0+20 are gone, cycle 2 starts at once;
    # it ends at t0+26 and cycle 3 waits for the tick t0+30.
    assert clock.sleeps == [0, 4]


def test_stop_ends_the_loop_while_sleeping_and_during_a_cycle():
    stop = threading.Event()
    calls = []

    def sleep(seconds: float) -> bool:
        stop.set()                     # SIGTERM while sleeping
        return True

    result = run_loop(lambda: calls.append(1) or "ok", 60, stop=stop, sleep=sleep, log=lambda _: None)
    assert (len(calls), result.cycles, result.stopped) == (1, 1, True)

    lines = []

    def interrupted() -> str:
        raise Stopped()

    result = run_loop(interrupted, 60, log=lines.append)
    assert result.stopped and result.cycles == 1 and lines == ["cycle 1 interrupted: stopping"]


# -- against a real Prometheus scraping the live exporter ----------------------------------

@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    if binaries() is None:
        pytest.skip("needs /usr/bin/prometheus (Debian package 'prometheus')")
    exporter = SimExporter(gpus=16, seed=5, step_seconds=5)
    server = make_server(exporter, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp = tmp_path_factory.mktemp("prom")
    try:
        with LocalPrometheus(tmp / "data", scrape=[("gpucost-exporter", f"127.0.0.1:{server.server_address[1]}", 1)]) \
                as prom:
            deadline = time.monotonic() + 30     # wait for the first scrapes
            while time.monotonic() < deadline:
                with urllib.request.urlopen(prom.url + "/api/v1/query?query=count(DCGM_FI_DEV_POWER_USAGE)") as r:
                    if b'"result":[{' in r.read():
                        break
                time.sleep(0.5)
            time.sleep(8)                        # at least one whole 5 s step scraped before the lag
            yield prom
    finally:
        server.shutdown()
        server.server_close()


def snapshot_freshness(settings: Settings):
    """(latest gpu_usage step, dashboard data window's last step) in the published snapshot."""
    from gpucost.dashboard.data.common import data_window

    with open_warehouse(settings, read_only=True, prefer_snapshot=True) as con:
        latest = con.execute("select max(ts) from gpu_usage").fetchone()[0]
        dashboard_last = data_window(con).iloc[0]["last_ts"]
    return latest, dashboard_last


@needs_prometheus
def test_each_cycle_advances_the_snapshot_the_dashboard_reads(prometheus, tmp_path):
    from gpucost.dashboard.app import create_app

    settings = Settings(db=tmp_path / "gpucost.duckdb", step_seconds=5, cluster="live")
    cycle = CollectorCycle(settings, Connection(prometheus.url, retries=0),
                           CycleOptions(cluster="live", backfill_s=10, lag_s=2, recommend_every_s=3600))
    dashboard = create_app(settings).server.test_client()       # up before the first snapshot
    assert dashboard.get("/healthz").status_code == 503
    seen = []

    def observed() -> str:
        line = cycle()
        seen.append(snapshot_freshness(settings))
        health = dashboard.get("/healthz")
        assert health.status_code == 200, health.get_data(as_text=True)
        assert "gpucost_warehouse_up 1" in dashboard.get("/metrics").get_data(as_text=True)
        return line

    lines: list[str] = []
    result = run_loop(observed, 6, cycles=3, log=lines.append)
    assert (result.ok, result.failed) == (3, 0), lines
    assert all("snapshot published" in line for line in lines), lines
    assert "; recommend: " in lines[0] and "recommend" not in lines[1] + lines[2], lines   # due once an hour
    latest = [s[0] for s in seen]
    assert latest[0] is not None and latest[0] < latest[1] < latest[2], seen
    dashboard_last = [s[1] for s in seen]
    assert dashboard_last[0] < dashboard_last[1] < dashboard_last[2], seen
    assert latest == dashboard_last                 # usage_hourly rolls up the newest step too
    with open_warehouse(settings, read_only=True) as con:    # resumed at the watermark each time
        windows = con.execute("select distinct window_start, window_end from loads order by 1").fetchall()
    assert len(windows) == 3 and windows[0][1] == windows[1][0] and windows[1][1] == windows[2][0]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUCOST_")}
    env.update(GPUCOST_DB=str(tmp_path / "gpucost.duckdb"), GPUCOST_STEP_SECONDS="5", GPUCOST_CLUSTER="live",
               PYTHONUNBUFFERED="1")
    return env


@needs_prometheus
def test_cli_cycles_then_stops_cleanly_on_sigterm(prometheus, tmp_path):
    env = _env(tmp_path)
    done = subprocess.run(GPUCOST + ["run", "--prometheus", prometheus.url, "--every", "3s", "--cycles", "2",
                                     "--backfill", "10s", "--lag", "2s"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr + done.stdout
    assert done.stdout.count(" ok in ") == 2 and "done after 2 cycle(s), 2 ok, 0 failed" in done.stdout
    assert snapshot_path(Settings(db=tmp_path / "gpucost.duckdb")).exists()

    proc = subprocess.Popen(GPUCOST + ["run", "--prometheus", prometheus.url, "--every", "1h", "--lag", "2s"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = ""
        deadline = time.monotonic() + 45
        while "cycle 1 " not in first and time.monotonic() < deadline and proc.poll() is None:
            first = proc.stdout.readline()
        assert "cycle 1 ok" in first, first
        proc.send_signal(signal.SIGTERM)              # while sleeping until the next cycle
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped after 1 cycle(s), 1 ok, 0 failed" in out


def test_cli_failed_cycles_are_logged_and_retried(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"        # nothing listens there
    done = subprocess.run(GPUCOST + ["run", "--prometheus", dead, "--every", "1s", "--cycles", "2", "--retries", "0",
                                     "--timeout", "2s"],
                          cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    lines = [line for line in done.stdout.splitlines() if " cycle " in line]
    assert len(lines) == 2 and all("failed after" in line and "retrying next cycle" in line for line in lines), \
        done.stdout
    assert done.returncode == 1 and "the last of 2 cycle(s) failed" in done.stderr


def test_cli_usage_errors_exit_2(tmp_path):
    for args in (["--every", "0"], ["--every", "5x"], ["--cycles", "0"]):
        done = subprocess.run(GPUCOST + ["run", "--prometheus", "http://127.0.0.1:1"] + args, cwd=tmp_path,
                              env=_env(tmp_path), capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (args, done.stderr)


def test_cli_sigterm_during_a_cycle_interrupts_it_and_exits_0(tmp_path):
    """A Prometheus that accepts connections and never answers: the cycle hangs in its first
    request until SIGTERM interrupts it (nothing written, exit 0)."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held = []

    def accept() -> None:
        try:
            while True:
                held.append(listener.accept())
        except OSError:          # closed at the end of the test
            return

    threading.Thread(target=accept, daemon=True).start()
    proc = subprocess.Popen(GPUCOST + ["run", "--prometheus", f"http://127.0.0.1:{listener.getsockname()[1]}",
                                       "--timeout", "120s", "--retries", "0"],
                            cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "gpucost run: every 300 s" in proc.stdout.readline()
        deadline = time.monotonic() + 30
        while not held and time.monotonic() < deadline:     # the cycle's first request is in flight
            time.sleep(0.1)
        assert held
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for conn, _ in held:
            conn.close()
        listener.close()
    assert proc.returncode == 0, err
    assert "cycle 1 interrupted: stopping" in out and "stopped after 1 cycle(s), 0 ok, 0 failed" in out
