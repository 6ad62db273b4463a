"""Idempotent raw loads: every collector writes raw_* tables through `RawLoad`.

A load is (source, window). Writing a table in a load first deletes that source's rows whose
time key lies in the window, then appends, so re-loading the same window replaces instead of
duplicating. All tables written in one load commit together or not at all, and each is booked
in `loads`. Interval tables (nodes, devices, allocations) must be clipped by the collector to
the window: their `valid_from` is the time key and `valid_to` may not pass the window's end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from gpucost.errors import GpucostError

# raw table -> (time key column, interval end column or None)
RAW_TABLES: dict[str, tuple[str, str | None]] = {
    "raw_dcgm_samples": ("ts", None),
    "raw_nodes": ("valid_from", "valid_to"),
    "raw_gpu_devices": ("valid_from", "valid_to"),
    "raw_pod_allocations": ("valid_from", "valid_to"),
    "raw_prices": ("effective_at", None),
    "raw_billing_line_items": ("charge_period_start", None),
    "raw_dra_allocations": ("observed_at", None),
}


@dataclass(frozen=True)
class Window:
    """Half-open UTC window [start, end); naive datetimes are UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise GpucostError("windows use naive UTC datetimes")
        if not self.start < self.end:
            raise GpucostError(f"empty window: start {self.start} is not before end {self.end}")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_name = ? order by ordinal_position",
        [table]).fetchall()]


class RawLoad:
    """One transaction writing one source's rows for one window into raw tables.

    Use as a context manager; `write(table, data)` may be called repeatedly per table
    (batches stream in). Leaving the block with an exception rolls everything back.
    With `own_transaction=False` the caller has begun a transaction and commits or rolls it
    back itself (several loads in one transaction); the load then only writes and books.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, source: str, window: Window,
                 own_transaction: bool = True):
        self.con, self.source, self.window = con, source, window
        self.own = own_transaction
        self.rows: dict[str, int] = {}

    def __enter__(self) -> "RawLoad":
        if self.own:
            self.con.execute("begin transaction")
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            if self.own:
                self.con.execute("rollback")
            return
        try:
            for table, count in self.rows.items():
                # the rows of earlier loads inside this window were replaced: so is their booking
                self.con.execute(
                    "delete from loads where source = ? and table_name = ? and window_start >= ? and window_end <= ?",
                    [self.source, table, self.window.start, self.window.end])
                self.con.execute("insert into loads values (?, ?, ?, ?, ?, now()::timestamp)",
                                 [self.source, table, self.window.start, self.window.end, count])
            if self.own:
                self.con.execute("commit")
        except Exception:
            if self.own:
                self.con.execute("rollback")
            raise

    def write(self, table: str, data: pa.Table | pa.RecordBatch) -> int:
        if table not in RAW_TABLES:
            raise GpucostError(f"not a raw table: {table}")
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        self._validate(table, data)
        key, _ = RAW_TABLES[table]
        if table not in self.rows:
            where = f"from {table} where source = ? and {key} >= ? and {key} < ?"
            args = [self.source, self.window.start, self.window.end]
            # deleting nothing still costs: DuckDB then writes the transaction's appends at commit
            # instead of straight into the file as they come
            if self.con.execute(f"select exists (select 1 {where})", args).fetchall()[0][0]:
                self.con.execute(f"delete {where}", args)
            self.rows[table] = 0
        if data.num_rows:
            self.con.register("_gpucost_batch", data)
            try:
                self.con.execute(f"insert into {table} by name select *, ? as source from _gpucost_batch",
                                 [self.source])
            except duckdb.ConstraintException as exc:
                # the transaction is aborted now; __exit__ rolls it back
                raise GpucostError(f"{table} from {self.source}: {str(exc).splitlines()[0]}") from None
            self.con.unregister("_gpucost_batch")
        self.rows[table] += data.num_rows
        return data.num_rows

    def _validate(self, table: str, data: pa.Table) -> None:
        allowed = set(_columns(self.con, table)) - {"source"}
        unknown = sorted(set(data.column_names) - allowed)
        if unknown:
            raise GpucostError(f"{table} from {self.source}: unknown column(s) {', '.join(unknown)}")
        key, end_key = RAW_TABLES[table]
        if key not in data.column_names:
            raise GpucostError(f"{table} from {self.source}: missing column {key}")
        if not data.num_rows:
            return
        start, end = self.window.start, self.window.end
        times = data.column(key).cast(pa.timestamp("us"))
        lo, hi = pc.min_max(times).values()       # one pass; the row is looked for only when needed
        if lo.as_py() < start or hi.as_py() >= end:
            outside = pc.or_(pc.less(times, pa.scalar(start, pa.timestamp("us"))),
                             pc.greater_equal(times, pa.scalar(end, pa.timestamp("us"))))
            bad = pc.index(outside, True).as_py()
            raise GpucostError(f"{table} from {self.source}: row {bad} has {key}={times[bad].as_py()} "
                               f"outside the load window [{start}, {end})")
        if end_key is not None:
            ends = data.column(end_key).cast(pa.timestamp("us"))
            past = pc.or_(pc.greater(ends, pa.scalar(end, pa.timestamp("us"))), pc.less_equal(ends, times))
            bad = pc.index(past, True).as_py()
            if bad >= 0:
                raise GpucostError(f"{table} from {self.source}: row {bad} has {end_key}={ends[bad].as_py()} "
                                   f"not within ({key}, window end {end}]")


def load_tables(con: duckdb.DuckDBPyConnection, source: str, window: Window,
                tables: Iterable[tuple[str, pa.Table]]) -> dict[str, int]:
    """Write several tables as one load; returns rows written per table."""
    with RawLoad(con, source, window) as load:
        for table, data in tables:
            load.write(table, data)
    return dict(load.rows)
