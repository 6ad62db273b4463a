"""Exports of the ``recommendations`` table: CSV, JSON, Parquet, Markdown and YAML patches.

- csv: one row per recommendation, the table's columns; text cells that a spreadsheet would
  run as a formula (starting with = + - @, tab or carriage return — names come from users)
  get a leading apostrophe (OWASP CSV injection advice).
- json: an array of objects; ``evidence`` as an object.
- parquet: the table's columns and types (needs a file).
- md: a table per kind, in precedence order, with the kind's total and the grand total.
- yaml: the Kubernetes changes, one YAML document each (``---`` between them), each with a
  comment and the ``gpucost.io/recommendation-id`` annotation naming its recommendation;
  recommendations without a patch (commit, idle-reclaim) are listed in the header comment.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Sequence

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from gpucost.analytics.recommend.model import COLUMNS
from gpucost.analytics.recommend.runner import kinds as rule_kinds

FORMATS = ("csv", "json", "parquet", "yaml", "md")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

SELECT_SQL = f"""
select {', '.join(COLUMNS)}
from recommendations
where monthly_savings_usd >= $min_savings and list_contains($kinds, kind)
"""


def read_table(con: duckdb.DuckDBPyConnection, kinds: Sequence[str] | None = None,
               min_savings_usd: float = 0.0) -> list[dict]:
    """Rows of the recommendations table (optionally some kinds, a minimum monthly saving),
    in precedence order, then saving descending, then target."""
    order = list(rule_kinds())
    wanted = list(kinds) if kinds else order
    rows = con.execute(SELECT_SQL, {"min_savings": min_savings_usd, "kinds": wanted}).fetchall()
    out = [dict(zip(COLUMNS, r)) for r in rows]
    rank = {k: i for i, k in enumerate(order)}
    out.sort(key=lambda r: (rank.get(r["kind"], len(rank)), -r["monthly_savings_usd"], r["cluster"] or "",
                            r["target"]))
    return out


def inert(value: object) -> object:
    """A CSV cell that spreadsheets show as text: a leading apostrophe before = + - @ tab CR."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([inert(_cell(r[c])) for c in COLUMNS])
    return out.getvalue()


def to_json(rows: list[dict]) -> str:
    items = [{c: (json.loads(r[c]) if c == "evidence" else
                  r[c].isoformat() if isinstance(r[c], datetime) else r[c]) for c in COLUMNS} for r in rows]
    return json.dumps(items, indent=1) + "\n"


def to_parquet(rows: list[dict], path: Path) -> None:
    schema = pa.schema([("id", pa.string()), ("kind", pa.string()), ("cluster", pa.string()),
                        ("namespace", pa.string()), ("target", pa.string()), ("team", pa.string()),
                        ("evidence", pa.string()), ("action", pa.string()), ("monthly_savings_usd", pa.float64()),
                        ("gpu_hours_saved", pa.float64()), ("confidence", pa.string()), ("patch", pa.string()),
                        ("window_start", pa.timestamp("us")), ("window_end", pa.timestamp("us"))])
    pq.write_table(pa.Table.from_pylist([{c: r[c] for c in COLUMNS} for r in rows], schema=schema), path)


def _md(text: object) -> str:
    return str("" if text is None else text).replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: list[dict]) -> str:
    if not rows:
        return "# GPU cost recommendations\n\nNo recommendations.\n"
    first = rows[0]
    lines = ["# GPU cost recommendations", "",
             f"Window {first['window_start']:%Y-%m-%d %H:%M} .. {first['window_end']:%Y-%m-%d %H:%M} UTC; "
             "savings per 30-day month at the window's rate, no GPU-hour counted twice.", ""]
    total = 0.0
    for kind in dict.fromkeys(r["kind"] for r in rows):
        group = [r for r in rows if r["kind"] == kind]
        subtotal = sum(r["monthly_savings_usd"] for r in group)
        total += subtotal
        lines += [f"## {kind} — ${subtotal:,.2f}/month ({len(group)})", "",
                  "| target | team | $/month | GPU-h saved | confidence | action |",
                  "|---|---|---:|---:|---|---|"]
        lines += [f"| {_md(r['target'])} | {_md(r['team'])} | {r['monthly_savings_usd']:,.2f} | "
                  f"{r['gpu_hours_saved']:,.1f} | {r['confidence']} | {_md(r['action'])} |" for r in group]
        lines.append("")
    lines.append(f"**Total: ${total:,.2f}/month** from {len(rows)} recommendations.")
    return "\n".join(lines) + "\n"


def to_yaml(rows: list[dict]) -> str:
    with_patch = [r for r in rows if r["patch"]]
    without = [r for r in rows if not r["patch"]]
    head = ["# gpucost recommendations as reviewable Kubernetes changes; one document per change.",
            f"# {len(with_patch)} with a patch; without one (act outside Kubernetes):"]
    head += [f"#   {r['id']} {r['kind']} {r['target']}: {r['action']}".replace("\n", " ") for r in without]
    docs = [r["patch"] if r["patch"].endswith("\n") else r["patch"] + "\n" for r in with_patch]
    return "\n".join(head) + "\n" + ("---\n" + "---\n".join(docs) if docs else "")


def export(rows: list[dict], fmt: str, path: Path | None = None) -> str | None:
    """Render rows in a format; Parquet is written to path (required), others returned as text."""
    if fmt == "parquet":
        if path is None:
            raise ValueError("parquet needs --out PATH")
        to_parquet(rows, path)
        return None
    render = {"csv": to_csv, "json": to_json, "md": to_markdown, "yaml": to_yaml}.get(fmt)
    if render is None:
        raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    return render(rows)
