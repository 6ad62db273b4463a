"""Rendering results for the terminal: tables, CSV, JSON and progress lines."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date, datetime
from typing import Callable, Sequence


def progress(label: str) -> Callable[[int, int], None]:
    """A progress callback printing 'label: done/total days' to stderr (a line per step on a
    terminal, only the last one otherwise)."""
    interactive = sys.stderr.isatty()

    def report(done: int, total: int) -> None:
        if interactive or done == total:
            end = "\n" if done == total else "\r"
            print(f"{label}: {done}/{total} days", end=end, file=sys.stderr, flush=True)
    return report


def _cell(value: object) -> object:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def format_rows(names: Sequence[str], rows: Sequence[Sequence[object]], fmt: str) -> str:
    """Render query results as an aligned text table, CSV or a JSON array of objects."""
    if fmt == "json":
        return json.dumps([dict(zip(names, map(_cell, r))) for r in rows], default=str) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([["" if v is None else _cell(v) for v in r] for r in rows])
        return out.getvalue()
    text = [[str(n) for n in names]] + [["" if v is None else str(_cell(v)) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in text) for i in range(len(names))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in text]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + f"\n({len(rows)} rows)\n"
