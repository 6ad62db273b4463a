"""The dashboard's global filters and their URL form (pure: no IO, no Dash).

The URL's query string carries the filters, so a link shows the same view and the browser's
back button steps through filter changes::

    /jobs?from=2026-11-02&to=2026-11-08&cluster=demo&team=nlp&team=vision&ns=recsys&model=NVIDIA+L4

- ``from`` / ``to``: first and last UTC day shown (inclusive, ``YYYY-MM-DD``); the window
  is ``[from 00:00, to + 1 day 00:00)`` UTC. Absent: the warehouse's whole data window.
- ``cluster``, ``team``, ``ns`` (namespace), ``model`` (GPU model): repeatable; a row
  matches when its value is one of the given ones; absent: no restriction. A team or
  namespace filter keeps only GPUs held by a workload (unallocated capacity has no team).

Values are only ever used as bind parameters. A value that is not a date, is too long or
repeats too often is dropped with a note for the user; unknown names simply match nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlencode

MAX_VALUES = 50        # values kept per repeatable key
MAX_VALUE_CHARS = 200  # longer values are dropped
LIST_KEYS = {"cluster": "clusters", "team": "teams", "ns": "namespaces", "model": "gpu_models"}


@dataclass(frozen=True)
class Filters:
    """What every page shows: a UTC day range and value filters (empty tuple = all)."""

    start_day: date | None = None   # first day shown
    end_day: date | None = None     # last day shown (inclusive)
    clusters: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    gpu_models: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)  # why URL values were dropped

    @property
    def start(self) -> datetime | None:
        """Window start, UTC midnight of start_day (None: unbounded)."""
        return None if self.start_day is None else datetime.combine(self.start_day, datetime.min.time())

    @property
    def end(self) -> datetime | None:
        """Window end (exclusive), UTC midnight after end_day (None: unbounded)."""
        return None if self.end_day is None else datetime.combine(self.end_day + timedelta(days=1),
                                                                  datetime.min.time())

    @property
    def holders_only(self) -> bool:
        """True when a team or namespace filter restricts rows to held GPUs."""
        return bool(self.teams or self.namespaces)

    def params(self) -> dict[str, object]:
        """Bind parameters for the SQL in ``gpucost.dashboard.data`` (``$start``, ``$end``,
        ``$clusters``, ``$teams``, ``$namespaces``, ``$gpu_models``)."""
        return {"start": self.start, "end": self.end, "clusters": list(self.clusters),
                "teams": list(self.teams), "namespaces": list(self.namespaces),
                "gpu_models": list(self.gpu_models)}

    def with_window(self, start_day: date | None, end_day: date | None) -> "Filters":
        return replace(self, start_day=start_day, end_day=end_day)

    def to_query(self) -> str:
        """The query string (with '?', or '' when nothing is filtered), in a fixed key order."""
        pairs: list[tuple[str, str]] = []
        if self.start_day:
            pairs.append(("from", self.start_day.isoformat()))
        if self.end_day:
            pairs.append(("to", self.end_day.isoformat()))
        for key, attr in LIST_KEYS.items():
            pairs.extend((key, v) for v in getattr(self, attr))
        return "?" + urlencode(pairs) if pairs else ""


def _day(text: str, key: str, notes: list[str]) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        notes.append(f"ignored {key}={text[:40]!r}: not a date (YYYY-MM-DD)")
        return None


def _values(raw: list[str], key: str, notes: list[str]) -> tuple[str, ...]:
    kept: list[str] = []
    for value in raw:
        value = value.strip()
        if not value or value in kept:
            continue
        if len(value) > MAX_VALUE_CHARS:
            notes.append(f"ignored a {key} value longer than {MAX_VALUE_CHARS} characters")
        elif len(kept) >= MAX_VALUES:
            notes.append(f"kept only the first {MAX_VALUES} {key} values")
            break
        else:
            kept.append(value)
    return tuple(kept)


def parse_query(search: str | None) -> Filters:
    """Filters from a URL query string (``location.search``, with or without '?').

    Never raises: bad values are dropped and described in ``notes``; unknown keys are ignored.
    A ``to`` before ``from`` swaps them.
    """
    text = (search or "").lstrip("?")
    raw = parse_qs(text, keep_blank_values=False, max_num_fields=1000) if text else {}
    notes: list[str] = []
    start = _day(raw["from"][-1], "from", notes) if raw.get("from") else None
    end = _day(raw["to"][-1], "to", notes) if raw.get("to") else None
    if start and end and end < start:
        start, end = end, start
        notes.append("swapped from/to: 'to' was before 'from'")
    lists = {attr: _values(raw.get(key, []), key, notes) for key, attr in LIST_KEYS.items()}
    return Filters(start_day=start, end_day=end, notes=tuple(notes), **lists)


def from_controls(start: str | None, end: str | None, clusters, teams, namespaces,
                  gpu_models) -> Filters:
    """Filters from the filter bar's control values (date strings and lists of names)."""
    query = []
    if start:
        query.append(("from", str(start)[:10]))
    if end:
        query.append(("to", str(end)[:10]))
    for key, values in (("cluster", clusters), ("team", teams), ("ns", namespaces), ("model", gpu_models)):
        query.extend((key, str(v)) for v in (values or []))
    return parse_query(urlencode(query))
