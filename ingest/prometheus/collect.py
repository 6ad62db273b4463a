"""`gpucost collect prometheus`: DCGM and kube-state-metrics from Prometheus into raw tables.

Per load window (a UTC day, see windows.py) every query is fetched completely - DCGM fields
and kube-state-metrics per step, owners and namespace labels once - with at most `parallel`
requests in flight (the next window is prefetched while one is written); then the window's
raw_dcgm_samples, raw_gpu_devices, raw_nodes and raw_pod_allocations are written by one
RawLoad (source 'prometheus:<cluster>'). Consecutive windows share a transaction until it
holds `commit_rows` rows: DuckDB then writes them compressed straight into the file instead of
through its write-ahead log and a second time at the checkpoint (half the write cost for a
small fleet's days; a 1,000-GPU day at 60 s is 1.4 M rows, a transaction of its own). A
failure leaves no part of the open transaction's windows and those committed before intact:
a re-run redoes at most `commit_rows` rows of work. Without --start a collection resumes at
the source's watermark (the end of its last loaded window), else starts `default_days` before
the end; the end defaults to now minus `lag_s` (scrapes still arriving).
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable

import duckdb

from gpucost.errors import GpucostError
from gpucost.ingest.loads import RawLoad, Window
from gpucost.ingest.prometheus.client import PromClient
from gpucost.ingest.prometheus.dcgm import dcgm_window
from gpucost.ingest.prometheus.kube import claim_pods, kube_window
from gpucost.ingest.prometheus.matrix import Matrix
from gpucost.ingest.prometheus.queries import (DCGM_NAMES_MATCH, FIELDS_BY_NAME, KSM_STEP_QUERIES,
                                               KSM_WINDOW_QUERIES, STORED_FIELDS, dcgm_query, duration, render)
from gpucost.ingest.prometheus.windows import PROMETHEUS_MAX_POINTS, Grid, plan_windows, to_ms

SOURCE_PREFIX = "prometheus:"


@dataclass(frozen=True)
class CollectOptions:
    """What to collect. start/end: naive UTC (None: watermark / now - lag). step_s must
    divide a day. selector: PromQL matchers added to every query (e.g. 'cluster="prod"').
    fields: DCGM fields to query (default: the stored ones; only those the exporter has in the
    range are queried, when the server can list metric names). commit_rows: commit once the
    open transaction holds this many rows (0: every window)."""

    start: datetime | None = None
    end: datetime | None = None
    step_s: int = 60
    cluster: str = "default"
    selector: str = ""
    parallel: int = 4
    max_points: int = PROMETHEUS_MAX_POINTS
    fields: tuple[str, ...] = tuple(f.name for f in STORED_FIELDS)
    default_days: float = 7.0
    lag_s: int = 60
    extra_label_keys: tuple[str, ...] = ()
    commit_rows: int = 1_000_000

    @property
    def source(self) -> str:
        return SOURCE_PREFIX + self.cluster


@dataclass
class Progress:
    windows: int
    requests: int
    done_windows: int = 0
    done_requests: int = 0
    samples: int = 0
    started: float = field(default_factory=time.perf_counter)


@dataclass
class CollectSummary:
    source: str
    window_start: datetime
    window_end: datetime
    step_s: int
    windows: int = 0
    series: int = 0
    samples: int = 0
    gpus: int = 0
    devices: int = 0
    nodes: int = 0
    pods: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    bytes: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Task:
    window: int
    kind: str          # 'dcgm' | 'ksm' | 'owners'
    name: str
    query: str
    start_ms: int
    end_ms: int
    step_ms: int


def loaded_windows(con: duckdb.DuckDBPyConnection, source: str) -> list[tuple[datetime, datetime]]:
    return [tuple(r) for r in con.execute(
        "select distinct window_start, window_end from loads where source = ? order by 1", [source]).fetchall()]


def watermark(con: duckdb.DuckDBPyConnection, source: str) -> datetime | None:
    return con.execute("select max(window_end) from loads where source = ?", [source]).fetchone()[0]


def _tasks(w: int, window: Window, opts: CollectOptions, range_ms: int) -> list[_Task]:
    grid = Grid.of(window, opts.step_s)
    rng = duration(range_ms)
    out = []
    for name in opts.fields:
        q = dcgm_query(FIELDS_BY_NAME[name], opts.selector, rng)
        out += [_Task(w, "dcgm", name, q, a, b, grid.step_ms) for a, b in grid.ranges(opts.max_points)]
    for name, template in KSM_STEP_QUERIES.items():
        q = render(template, opts.selector, range=rng)
        out += [_Task(w, "ksm", name, q, a, b, grid.step_ms) for a, b in grid.ranges(opts.max_points)]
    at = to_ms(window.end)
    span = duration(to_ms(window.end) - to_ms(window.start))
    for name, template in KSM_WINDOW_QUERIES.items():
        out.append(_Task(w, "owners", name, render(template, opts.selector, window=span), at, at, grid.step_ms))
    return out


def collect_prometheus(con: duckdb.DuckDBPyConnection, client: PromClient, opts: CollectOptions,
                       progress: Callable[[Progress], None] | None = None,
                       now: datetime | None = None) -> CollectSummary:
    """Collect [start, end) into the raw tables; returns what was loaded."""
    t0 = time.perf_counter()
    source = opts.source
    if now is None:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
    end = opts.end or now - timedelta(seconds=opts.lag_s)
    start = opts.start or watermark(con, source) or end - timedelta(days=opts.default_days)
    if opts.parallel < 1:
        raise GpucostError(f"--parallel must be at least 1, got {opts.parallel}")
    windows = plan_windows(start, end, opts.step_s, loaded_windows(con, source))
    try:
        major = client.major_version()
    except GpucostError as exc:
        raise GpucostError(f"{exc} (nothing was written)") from None
    step_ms = opts.step_s * 1000
    # Prometheus 3 range selectors are left-open, 2.x closed: both select exactly one step
    range_ms = step_ms if (major or 2) >= 3 else step_ms - 1
    # only the DCGM fields the exporter has in the range: each absent one would cost an empty
    # range query per window and chunk
    present = client.metric_names(render(DCGM_NAMES_MATCH, opts.selector), windows[0].start.replace(
        tzinfo=timezone.utc).timestamp(), windows[-1].end.replace(tzinfo=timezone.utc).timestamp())
    if present is not None:
        opts = replace(opts, fields=tuple(f for f in opts.fields if f in present))
    plans = [_tasks(w, win, opts, range_ms) for w, win in enumerate(windows)]
    summary = CollectSummary(source, windows[0].start, windows[-1].end, opts.step_s, windows=len(windows))
    state = Progress(len(windows), sum(len(p) for p in plans))
    if major is None:
        summary.warnings.append("Prometheus did not report its version; assumed 2.x range semantics")
    seen_series: set = set()
    gpus: set[str] = set()
    devices: set[str] = set()
    nodes: set[str] = set()
    pods: set[tuple[str, str]] = set()

    def fetch(task: _Task) -> Matrix:
        what = f"{task.name} [{windows[task.window].start:%Y-%m-%d %H:%M}, {windows[task.window].end:%H:%M})"
        return client.query_range(task.query, task.start_ms, task.end_ms, task.step_ms, what)

    saved = _set(con, COLLECT_SETTINGS)
    committed = [0]
    open_tx = {"begun": False, "windows": 0, "rows": 0}
    pool = ThreadPoolExecutor(max_workers=opts.parallel, thread_name_prefix="gpucost-prom")
    # one writer thread: window i is written and committed while window i+1 is parsed
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpucost-write")
    futures: dict[int, list[tuple[_Task, Future]]] = {}
    pending: Future | None = None

    def write(window: Window, tables: list, last: bool) -> None:
        if not open_tx["begun"]:
            con.execute("begin transaction")
            open_tx["begun"] = True
        with RawLoad(con, source, window, own_transaction=False) as load:
            for table, data in tables:
                n = load.write(table, data)
                summary.rows[table] = summary.rows.get(table, 0) + n
                open_tx["rows"] += n
        open_tx["windows"] += 1
        if last or open_tx["rows"] >= opts.commit_rows:
            con.execute("commit")
            committed[0] += open_tx["windows"]
            open_tx.update(begun=False, windows=0, rows=0)
        state.done_windows += 1
        if progress:
            progress(state)

    def submit(w: int) -> None:
        if w < len(plans) and w not in futures:
            futures[w] = [(t, pool.submit(fetch, t)) for t in plans[w]]

    try:
        for w, window in enumerate(windows):
            submit(w)
            submit(w + 1)       # prefetch while this window is parsed and written
            parts: dict[tuple[str, str], list[Matrix]] = {}
            for task, fut in futures.pop(w):
                m = fut.result()
                parts.setdefault((task.kind, task.name), []).append(m)
                state.done_requests += 1
                state.samples += m.samples
                if progress:
                    progress(state)
            mats = {key: Matrix.concat(ms) for key, ms in parts.items()}
            for key, m in mats.items():
                for warning in m.warnings:
                    if warning not in summary.warnings:
                        summary.warnings.append(f"Prometheus warned on {key[1]}: {warning}")
                summary.samples += m.samples
                seen_series.update(tuple(sorted(lab.items())) + (key[1],) for lab in m.labels)
            grid = Grid.of(window, opts.step_s)
            ksm = {name: m for (kind, name), m in mats.items() if kind == "ksm"}
            owners = {name: m for (kind, name), m in mats.items() if kind == "owners"}
            dcgm = dcgm_window({name: m for (kind, name), m in mats.items() if kind == "dcgm"}, grid, opts.cluster,
                               claim_pods(ksm.get("pod_claims", Matrix.empty())))
            kube = kube_window(ksm, owners, dcgm, grid, opts.cluster, opts.extra_label_keys)
            del mats, parts
            _note(summary, dcgm, kube, window)
            gpus.update(o.identity.uuid for o in dcgm.devices.values())
            devices.update(dcgm.devices)
            nodes.update(kube.nodes.column("node").to_pylist())
            pods.update(zip(kube.pods.column("namespace").to_pylist(), kube.pods.column("pod").to_pylist()))
            if pending is not None:
                pending.result()
            pending = writer.submit(write, window, [
                ("raw_dcgm_samples", dcgm.table), ("raw_gpu_devices", kube.devices),
                ("raw_nodes", kube.nodes), ("raw_pod_allocations", kube.pods)], w == len(windows) - 1)
        if pending is not None:
            pending.result()
            pending = None
    except BaseException as exc:
        pool.shutdown(wait=False, cancel_futures=True)
        if pending is not None:          # a complete window being written: let it finish
            try:
                pending.result()
            except BaseException:
                pass
        writer.shutdown(wait=True)
        if open_tx["begun"]:
            con.execute("rollback")
        _set(con, saved)
        if isinstance(exc, GpucostError):
            raise GpucostError(f"{exc} ({_partial(committed[0], windows)})") from None
        raise
    pool.shutdown(wait=True)
    writer.shutdown(wait=True)
    _set(con, saved)
    summary.series = len(seen_series)
    summary.gpus, summary.devices, summary.nodes, summary.pods = len(gpus), len(devices), len(nodes), len(pods)
    st = client.stats
    summary.requests, summary.retries, summary.bytes = st.requests, st.retries, st.bytes
    summary.seconds = time.perf_counter() - t0
    if not summary.rows.get("raw_dcgm_samples"):
        summary.warnings.append("no DCGM samples in the range: is dcgm-exporter scraped (gpucost doctor)?")
    return summary


# DuckDB settings while collecting (restored after):
# - one worker thread: inserting a window gains nothing from more, which would only contend
#   with the parsing threads for the cores;
# - a transaction's appends go to the file a row group (122,880 rows) at a time as they come,
#   not five at once (the default), which left ~0.6 s of compression to the last window;
# - no automatic checkpoint between transactions: what small transactions leave in the WAL is
#   compressed into the file once, when the warehouse closes.
COLLECT_SETTINGS = {"threads": "1", "write_buffer_row_group_count": "1", "checkpoint_threshold": "1GB"}


def _set(con: duckdb.DuckDBPyConnection, settings: dict[str, str]) -> dict[str, str]:
    """Apply settings; returns their previous values (for restoring)."""
    before = {name: str(con.execute("select current_setting(?)", [name]).fetchall()[0][0]) for name in settings}
    for name, value in settings.items():
        con.execute(f"set {name} = '{value}'")
    return before


def _partial(committed: int, windows: list[Window]) -> str:
    if not committed:
        return "nothing was written"
    return (f"{committed} of {len(windows)} windows committed up to {windows[committed - 1].end:%Y-%m-%d %H:%M}; "
            "re-running resumes there")


def _note(summary: CollectSummary, dcgm, kube, window: Window) -> None:
    day = f"{window.start:%Y-%m-%d}"
    if dcgm.nonfinite:
        summary.warnings.append(f"{day}: {dcgm.nonfinite} NaN/Inf DCGM samples stored as null")
    if dcgm.duplicates:
        summary.warnings.append(f"{day}: {dcgm.duplicates} duplicate DCGM samples (same device and step) dropped")
    if dcgm.skipped_series:
        summary.warnings.append(f"{day}: {dcgm.skipped_series} DCGM series without UUID, node or GPU index "
                                f"skipped, e.g. {dcgm.skipped_labels[0]}")
    if kube.dcgm_only_nodes:
        summary.warnings.append(f"{day}: {len(kube.dcgm_only_nodes)} node(s) in DCGM but not in kube-state-metrics "
                                f"(not costed): {', '.join(kube.dcgm_only_nodes[:3])}")
    if kube.pods_without_devices:
        summary.warnings.append(f"{day}: {kube.pods_without_devices} GPU pod(s) never seen on a device "
                                "(no DCGM pod labels): devices left NULL")


def format_summary(s: CollectSummary) -> str:
    rows = ", ".join(f"{t} {n:,}" for t, n in s.rows.items())
    lines = [f"collected {s.window_start:%Y-%m-%d %H:%M}..{s.window_end:%Y-%m-%d %H:%M} UTC "
             f"({s.windows} window{'s' if s.windows != 1 else ''}, step {s.step_s} s) as {s.source}: "
             f"{s.series:,} series, {s.samples:,} samples, {s.gpus} GPUs ({s.devices} devices), {s.nodes} nodes, "
             f"{s.pods} pods in {s.seconds:.1f} s",
             f"  {s.requests} requests ({s.retries} retried), {s.bytes / 1e6:.1f} MB; rows: {rows}"]
    lines += [f"  warning: {w}" for w in s.warnings]
    return "\n".join(lines)
