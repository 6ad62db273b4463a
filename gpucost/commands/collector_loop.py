"""`gpucost run --prometheus URL [--every 5m] [--cycles N]`: the collector service.

What the compose `collector` service and the Kubernetes collector container run. Every
`--every` (fixed rate; a cycle that overruns starts the next one at once, missed ticks are
skipped, never queued), one cycle:

1. (only with --prices-every, at most that often) AWS spot history and on-demand list prices,
   like `gpucost collect prices`; a price failure is reported in the cycle's line and
   retried next cycle, it does not stop the Prometheus part;
2. Prometheus from the source's watermark (where the last collection of
   ``prometheus:<cluster>`` ended) to now - `--lag`, like `gpucost collect prometheus`
   without --start/--end; the first cycle on an empty warehouse reaches back `--backfill`;
3. `gpucost build` of the days the loads touched; then (at most every --recommend-every,
   default 1h) the recommendations are recomputed like `gpucost recommend` (a failure there
   is reported and retried next cycle); then the snapshot (``<db>.snapshot``) that the
   dashboard and the weekly report read is published.

The warehouse is opened for the cycle only, so `gpucost query`, `doctor` or a manual
`collect billing` can take the write lock between cycles. One line per cycle on stdout:
``<UTC time> cycle N ok in S s: ...`` or ``... cycle N failed: <cause>``. A failed cycle
(Prometheus down, a build error) leaves the warehouse as it was (collections commit per
day-window, builds in one transaction) and the next cycle retries from the watermark.
SIGTERM or SIGINT stops the loop: while sleeping at once, during a cycle by interrupting it
(the open transaction rolls back; committed windows stay) - exit status 0. Exit status:
2 on usage errors; 1 only with --cycles when the last cycle failed (for a cron Job); the
endless loop never exits on its own.
The step is the warehouse's (settings `step_seconds`, env GPUCOST_STEP_SECONDS).
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from gpucost.commands.args import add_command, positive_int
from gpucost.commands.collect_prometheus import add_connection_options, connection_from_args
from gpucost.commands.collect_prometheus import duration_seconds as duration
from gpucost.errors import GpucostError
from gpucost.settings import Settings


def register(sub) -> None:
    parser = add_command(sub, "run", "the collector service: collect Prometheus (and prices), build and "
                                     "publish the snapshot every N minutes", run)
    add_connection_options(parser, url_flag="--prometheus")
    parser.add_argument("--every", type=duration, default=300, help="cycle period (default 5m)")
    parser.add_argument("--cycles", type=positive_int,
                        help="stop after this many cycles (default: run until SIGTERM)")
    parser.add_argument("--backfill", type=duration, default=7 * 86400,
                        help="how far back the first collection reaches on an empty warehouse (default 7d)")
    parser.add_argument("--lag", type=duration, default=60,
                        help="collect up to now minus this: scrapes still arriving (default 60s)")
    parser.add_argument("--cluster", help="cluster name written on every row (default: settings cluster)")
    parser.add_argument("--selector", default="",
                        help="PromQL label matchers added to every query, e.g. 'cluster=\"prod\"'")
    parser.add_argument("--parallel", type=positive_int, default=4, help="requests in flight (default 4)")
    parser.add_argument("--prices-every", type=duration, default=os.environ.get("GPUCOST_PRICES_EVERY") or None,
                        help="also collect AWS spot and on-demand prices at most this often, e.g. 6h "
                             "(env GPUCOST_PRICES_EVERY; default: never; needs AWS credentials)")
    parser.add_argument("--region", action="append", help="AWS region for prices (repeatable; default: settings)")
    parser.add_argument("--recommend-every", type=duration, default=os.environ.get("GPUCOST_RECOMMEND_EVERY") or "1h",
                        help="recompute the recommendations at most this often (env GPUCOST_RECOMMEND_EVERY; "
                             "default 1h)")
    parser.add_argument("--no-recommend", dest="recommend_every", action="store_const", const=None,
                        help="never recompute the recommendations")


class Stopped(BaseException):
    """Raised into a running cycle by SIGTERM/SIGINT (a BaseException, so that collectors
    and the build roll back their open transaction and re-raise it)."""


@dataclass
class LoopResult:
    cycles: int = 0
    ok: int = 0
    failed: int = 0
    last_failed: bool = False
    stopped: bool = False


def _utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _log(line: str) -> None:
    print(f"{_utc_stamp()} {line}", flush=True)


def run_loop(cycle: Callable[[], str], every_s: float, *, cycles: int | None = None,
             stop: threading.Event | None = None, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], bool] | None = None,
             log: Callable[[str], None] = _log) -> LoopResult:
    """Call ``cycle()`` every ``every_s`` seconds of ``clock`` until ``cycles`` are done or
    ``stop`` is set; log one line per cycle (the cycle's return value, or why it failed).

    A cycle raising an Exception (GpucostError or anything else) is logged and the loop goes
    on; ``Stopped`` ends the loop. ``sleep(seconds) -> True when stopped`` waits between
    cycles (default ``stop.wait``). Fixed rate: cycle k starts at t0 + k x every_s, or at once
    when the previous one overran (the missed ticks are skipped).
    """
    stop = stop or threading.Event()
    sleep = sleep or stop.wait
    result = LoopResult()
    t0 = clock()
    tick = 0
    while not stop.is_set():
        result.cycles += 1
        n = result.cycles
        started = clock()
        try:
            line = cycle()
        except Stopped:
            result.stopped = True
            log(f"cycle {n} interrupted: stopping")
            break
        except GpucostError as exc:
            result.failed += 1
            result.last_failed = True
            log(f"cycle {n} failed after {clock() - started:.1f} s: {exc}; retrying next cycle")
        except Exception as exc:  # noqa: BLE001 - a service survives any one bad cycle
            result.failed += 1
            result.last_failed = True
            log(f"cycle {n} failed after {clock() - started:.1f} s: {type(exc).__name__}: {exc}; "
                "retrying next cycle")
        else:
            result.ok += 1
            result.last_failed = False
            log(f"cycle {n} ok in {clock() - started:.1f} s: {line}")
        if cycles is not None and n >= cycles:
            break
        now = clock()
        tick = max(tick + 1, int((now - t0) // every_s))
        wait = t0 + tick * every_s - now
        if wait <= 0:                      # overran: start now, on the tick just passed
            wait = 0.0
        if sleep(wait):
            break
    if stop.is_set():
        result.stopped = True
    return result


@dataclass(frozen=True)
class CycleOptions:
    """What each cycle does (see the module docstring)."""

    cluster: str
    selector: str = ""
    parallel: int = 4
    backfill_s: int = 7 * 86400
    lag_s: int = 60
    prices_every_s: int | None = None
    regions: tuple[str, ...] = ()
    recommend_every_s: int | None = None


class CollectorCycle:
    """One cycle per call: prices (when due), Prometheus from the watermark, build, snapshot.
    Returns the cycle's summary (one line); raises GpucostError when the Prometheus
    collection or the build failed. ``now``: wall clock, naive UTC (for tests)."""

    def __init__(self, settings: Settings, connection, options: CycleOptions,
                 now: Callable[[], datetime] | None = None):
        self.settings, self.connection, self.options = settings, connection, options
        self.now = now or (lambda: datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0))
        self.prices_at: datetime | None = None
        self.recommended_at: datetime | None = None

    def collect_options(self):
        from gpucost.ingest.prometheus import CollectOptions

        s = self.settings
        return CollectOptions(step_s=s.step_seconds, cluster=self.options.cluster, selector=self.options.selector,
                              parallel=self.options.parallel, default_days=self.options.backfill_s / 86400,
                              lag_s=self.options.lag_s, extra_label_keys=(s.job_label, s.team_label))

    def __call__(self) -> str:
        from gpucost.build import build
        from gpucost.ingest.prometheus import PromClient, collect_prometheus
        from gpucost.ingest.prometheus.collect import watermark
        from gpucost.ingest.prometheus.windows import align_down
        from gpucost.warehouse import open_warehouse, publish_snapshot

        opts = self.collect_options()
        now = self.now()
        parts = []
        with open_warehouse(self.settings, create=True) as con:
            if self._prices_due(now):
                parts.append(self._prices(con, now))
            end = now - timedelta(seconds=opts.lag_s)
            start = watermark(con, opts.source) or end - timedelta(days=opts.default_days)
            if align_down(end, opts.step_s) <= align_down(start, opts.step_s):
                parts.append(f"nothing new to collect since {start:%Y-%m-%d %H:%M:%S}")
            else:
                with PromClient(self.connection) as client:
                    s = collect_prometheus(con, client, opts, now=now)
                text = (f"collected {s.window_start:%Y-%m-%d %H:%M:%S}..{s.window_end:%H:%M:%S} "
                        f"({s.samples:,} samples, {s.gpus} GPUs, {s.nodes} nodes, {s.pods} pods)")
                if s.warnings:
                    text += f" [{len(s.warnings)} warning(s): {s.warnings[0]}]"
                parts.append(text)
            built = build(con, self.settings)
            if built.window is None:
                parts.append("nothing to build")
            else:
                usage = built.rows.get("gpu_usage_steps", built.rows.get("gpu_usage", 0))
                parts.append(f"built {built.window.start:%Y-%m-%d}..{built.window.end:%Y-%m-%d} "
                             f"({built.days} day(s), {usage:,} usage rows) in {built.seconds:.1f} s")
                if self._due(self.recommended_at, self.options.recommend_every_s, now):
                    parts.append(self._recommend(con, now))
                publish_snapshot(con, self.settings)
                parts.append("snapshot published")
        return "; ".join(parts)

    @staticmethod
    def _due(last: datetime | None, every_s: int | None, now: datetime) -> bool:
        return every_s is not None and (last is None or now - last >= timedelta(seconds=every_s))

    def _prices_due(self, now: datetime) -> bool:
        return self._due(self.prices_at, self.options.prices_every_s, now)

    def _recommend(self, con, now: datetime) -> str:
        from gpucost.commands.recommend import compute

        try:
            line = compute(con, self.settings)
        except Exception as exc:  # noqa: BLE001 - the collection and build stand; retried next cycle
            cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return f"recommend failed (retried next cycle): {cause}"
        self.recommended_at = now
        return line

    def _prices(self, con, now: datetime) -> str:
        from gpucost.commands.collect import collect_prices

        try:
            lines = list(collect_prices(con, self.settings, regions=list(self.options.regions) or None))
        except GpucostError as exc:
            return f"prices failed (retried next cycle): {exc}"
        self.prices_at = now
        return "prices " + ", ".join(lines)


def run(settings: Settings, args: argparse.Namespace) -> None:
    options = CycleOptions(cluster=args.cluster or settings.cluster, selector=args.selector,
                           parallel=args.parallel, backfill_s=args.backfill, lag_s=args.lag,
                           prices_every_s=args.prices_every, regions=tuple(args.region or ()),
                           recommend_every_s=args.recommend_every)
    if 86400 % settings.step_seconds:
        raise GpucostError(f"step_seconds must divide a day, got {settings.step_seconds}")
    cycle = CollectorCycle(settings, connection_from_args(args), options)
    stop = threading.Event()
    in_cycle = threading.Event()

    def on_signal(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
        stop.set()
        if in_cycle.is_set():
            in_cycle.clear()          # raise once; cleanup code after it runs undisturbed
            raise Stopped()

    def guarded() -> str:
        in_cycle.set()
        try:
            return cycle()
        finally:
            in_cycle.clear()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    _log(f"gpucost run: every {args.every} s, Prometheus {args.url}, warehouse {settings.db}, "
         f"cluster {options.cluster}, step {settings.step_seconds} s"
         + (f", prices every {args.prices_every} s" if args.prices_every else ""))
    try:
        result = run_loop(guarded, args.every, cycles=args.cycles, stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _log(f"gpucost run: {'stopped' if result.stopped else 'done'} after {result.cycles} cycle(s), "
         f"{result.ok} ok, {result.failed} failed")
    if args.cycles is not None and result.last_failed and not result.stopped:
        raise GpucostError(f"the last of {result.cycles} cycle(s) failed (see the lines above)")
