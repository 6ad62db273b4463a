"""Load windows, the step grid, and query ranges under Prometheus' points-per-series limit.

A collection of [start, end) becomes load windows cut at UTC midnights; each is fetched
completely and then written by one RawLoad. Before cutting, the range is widened to the
windows already loaded for the source that it cuts through, so that every earlier load
overlapping the new range lies inside one new window: RawLoad then deletes all of its rows
(interval rows are keyed by valid_from) and re-collecting replaces, never duplicates.

Within a window of n steps of S ms, step k covers [w0 + kS, w0 + (k+1)S) and is evaluated
at its end, w0 + (k+1)S, with `offset 1ms` (see queries.py). Prometheus refuses a range query with more than
11,000 points per series (HTTP 400), so a window's evaluations are split into ranges of at
most `max_points` points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gpucost.errors import GpucostError
from gpucost.ingest.loads import Window

EPOCH = datetime(1970, 1, 1)
DAY = timedelta(days=1)
PROMETHEUS_MAX_POINTS = 11_000


def to_ms(t: datetime) -> int:
    return (t - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=int(ms))


def align_down(t: datetime, step_s: int) -> datetime:
    ms = to_ms(t)
    return from_ms(ms - ms % (step_s * 1000))


def plan_windows(start: datetime, end: datetime, step_s: int,
                 loaded: list[tuple[datetime, datetime]] = ()) -> list[Window]:
    """Windows covering [start, end) aligned to the step, widened to cover the loaded
    windows they would cut, cut at UTC midnights."""
    if 86400 % step_s:
        raise GpucostError(f"the step must divide a day, got {step_s} s")
    start, end = align_down(start, step_s), align_down(end, step_s)
    if end <= start:
        raise GpucostError(f"nothing to collect: [{start}, {end}) holds no whole {step_s} s step")
    changed = True
    while changed:
        changed = False
        for a, b in loaded:
            if a < start < b:
                start, changed = a, True
            if a < end < b:
                end, changed = b, True
    out, a = [], start
    while a < end:
        b = min(end, datetime(a.year, a.month, a.day) + DAY)
        out.append(Window(a, b))
        a = b
    return out


@dataclass(frozen=True)
class Grid:
    """The steps of one window: step k starts at start_ms + k * step_ms."""

    start_ms: int
    step_ms: int
    n: int

    @staticmethod
    def of(window: Window, step_s: int) -> "Grid":
        a, b = to_ms(window.start), to_ms(window.end)
        return Grid(a, step_s * 1000, (b - a) // (step_s * 1000))

    def eval_ms(self, k: int) -> int:
        """When step k is evaluated: its end (the query's offset 1ms makes it the step's last ms)."""
        return self.start_ms + (k + 1) * self.step_ms

    def ranges(self, max_points: int = PROMETHEUS_MAX_POINTS) -> list[tuple[int, int]]:
        """(first eval ms, last eval ms) of query ranges of at most max_points points."""
        if not 1 <= max_points <= PROMETHEUS_MAX_POINTS:
            raise GpucostError(f"max points per query must be 1..{PROMETHEUS_MAX_POINTS}, got {max_points}")
        out = []
        for k0 in range(0, self.n, max_points):
            k1 = min(self.n, k0 + max_points) - 1
            out.append((self.eval_ms(k0), self.eval_ms(k1)))
        return out

    def step_start(self, k):
        return self.start_ms + k * self.step_ms
