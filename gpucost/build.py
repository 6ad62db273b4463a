"""The build: run the SQL models in ``sql/models`` to turn raw_* tables into the marts.

Each model is one file whose first line declares how it is materialised:

- ``-- materialize: temp``: a temporary table rebuilt for every window chunk (staging and
  intermediate models);
- ``-- materialize: incremental(<column>)``: a public table whose rows with <column> in the
  chunk are deleted and re-inserted;
- ``-- materialize: merge(<key>)``: a dimension table; rows with a new key are added
  (keys hash all attributes, so an existing row never needs to change);
- ``-- materialize: replace``: a public table recomputed whole after all chunks.

Models run in dependency order (a model depends on the models whose names it mentions).
The window is processed one UTC day at a time, so memory stays bounded by a day of data,
and the whole build is one transaction: a failure leaves every table as it was. Values
reach SQL only as bind parameters (``$window_start``, ``$step_seconds``, ...).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from graphlib import TopologicalSorter
from importlib import resources
from typing import Callable

import duckdb
import pyarrow as pa

from gpucost.errors import GpucostError
from gpucost.ingest.catalog import catalog_table
from gpucost.ingest.loads import Window
from gpucost.settings import Settings
from gpucost.warehouse import MIGRATIONS_TABLE

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Model:
    name: str
    materialize: str          # 'temp' | 'incremental' | 'merge' | 'replace'
    key: str | None           # incremental or merge key column
    sql: str
    deps: frozenset[str] = field(default_factory=frozenset)

    @property
    def params(self) -> set[str]:
        return set(re.findall(r"\$([a-z_]+)", self.sql))


def load_models() -> list[Model]:
    """The packaged models in a valid run order (dependencies first, then by name)."""
    texts = {}
    for entry in resources.files("gpucost.sql").joinpath("models").iterdir():
        if entry.name.endswith(".sql"):
            texts[entry.name[:-4]] = entry.read_text()
    models = {}
    for name, sql in texts.items():
        m = re.match(r"--\s*materialize:\s*(temp|replace|(?:incremental|merge)\((\w+)\))\s*\n", sql)
        if not m:
            raise GpucostError(f"sql/models/{name}.sql: first line must be '-- materialize: ...'")
        kind = m.group(1).split("(")[0]
        body = re.sub(r"--[^\n]*", "", sql)  # names in comments are not dependencies
        deps = frozenset(other for other in texts if other != name and re.search(rf"\b{other}\b", body))
        models[name] = Model(name, kind, m.group(2), sql, deps)
    sorter = TopologicalSorter({name: model.deps for name, model in models.items()})
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return [models[name] for name in order]


@dataclass(frozen=True)
class BuildSummary:
    window: Window | None
    days: int
    rows: dict[str, int]
    seconds: float
    model_seconds: dict[str, float] = field(default_factory=dict)   # wall time per model, all chunks


def _parameters(settings: Settings, window: Window) -> dict[str, object]:
    return {
        "window_start": window.start,
        "window_end": window.end,
        "step_seconds": settings.step_seconds,
        "idle_threshold_pct": settings.idle_threshold_pct,
        "job_label": settings.job_label,
        "team_label": settings.team_label,
        "default_region": settings.region,
        "gpu_share_fixed": settings.cost.fixed_share,
        "cpu_usd_per_vcpu_hour": settings.cost.cpu_usd_per_vcpu_hour,
        "ram_usd_per_gib_hour": settings.cost.ram_usd_per_gib_hour,
    }


def _bind(model: Model, params: dict[str, object]) -> dict[str, object]:
    missing = model.params - params.keys()
    if missing:
        raise GpucostError(f"sql/models/{model.name}.sql: unknown parameter(s) {', '.join(sorted(missing))}")
    return {k: params[k] for k in model.params}


def _register_reference(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    con.register("_catalog", catalog_table())
    con.execute("create or replace temp table ref_instance_types as select * from _catalog")
    con.unregister("_catalog")
    overrides = pa.table({
        "instance_type": pa.array(list(settings.price_overrides), pa.string()),
        "usd_per_hour": pa.array(list(settings.price_overrides.values()), pa.float64()),
    })
    con.register("_overrides", overrides)
    con.execute("create or replace temp table cfg_price_overrides as select * from _overrides")
    con.unregister("_overrides")


def pending_window(con: duckdb.DuckDBPyConnection) -> Window | None:
    """Whole UTC days touched by loads since the last build (all loads before the first).

    When the schema was migrated after the last build (a new mart, a changed model), every
    loaded day is pending, so upgrading gpucost backfills without a manual rebuild.
    """
    since = con.execute(f"""
        select case when (select max(applied_at) from {MIGRATIONS_TABLE}) > max(built_at) then null
                    else max(loads_through) end
        from builds""").fetchone()[0]
    row = con.execute("""
        select min(window_start), max(window_end)
        from loads
        where loaded_at > coalesce($since::timestamp, '-infinity'::timestamp)
    """, {"since": since}).fetchone()
    if row[0] is None:
        return None
    return day_window(row[0], row[1])


def day_window(start: datetime, end: datetime) -> Window:
    floor = datetime(start.year, start.month, start.day)
    ceil = datetime(end.year, end.month, end.day)
    if ceil < end:
        ceil += DAY
    return Window(floor, max(ceil, floor + DAY))


def _check_priced(con: duckdb.DuckDBPyConnection, day: datetime) -> None:
    row = con.execute("""
        select node, instance_type from int_node_steps where usd_per_hour is null
        order by node limit 1""").fetchone()
    if row:
        raise GpucostError(f"no price for node {row[0]} (instance type {row[1]!r}) on {day:%Y-%m-%d}: "
                           "set [prices.overrides] in gpucost.toml or collect prices")


def _check_identity(con: duckdb.DuckDBPyConnection, chunk: Window) -> None:
    """The day's device rows must add up to its nodes' GPU cost (DESIGN's identity)."""
    devices, nodes = map(float, con.execute("""
        select (select coalesce(sum(cost_usd::decimal(24, 15)), 0) from gpu_usage_steps
                where ts >= $s and ts < $e),
               (select coalesce(sum(gpu_cost_usd), 0) from int_node_steps)""",
                                 {"s": chunk.start, "e": chunk.end}).fetchone())
    if abs(devices - nodes) > max(1, abs(nodes)) * 1e-9:
        raise GpucostError(f"accounting identity broken on {chunk.start:%Y-%m-%d}: GPU rows cost "
                           f"{devices:.6f} USD, nodes' GPU share {nodes:.6f} USD "
                           "(duplicate device or telemetry rows in a source?)")


def _replace_chunk(con: duckdb.DuckDBPyConnection, model: Model, chunk: Window, params: dict) -> int:
    """An incremental model's rows for the chunk, replaced; returns how many were written."""
    con.execute(f"delete from {model.name} where {model.key} >= $s and {model.key} < $e",
                {"s": chunk.start, "e": chunk.end})
    return con.execute(f"insert into {model.name} by name {model.sql}", _bind(model, params)).fetchall()[0][0]


def build(con: duckdb.DuckDBPyConnection, settings: Settings, window: Window | None = None,
          progress: Callable[[int, int], None] | None = None) -> BuildSummary:
    """Rebuild the marts for ``window`` (default: what loads changed since the last build).

    The window is widened to whole UTC days. Returns rows written per public table.
    """
    started = time.perf_counter()
    models = load_models()
    window = day_window(window.start, window.end) if window else pending_window(con)
    if window is None:
        return BuildSummary(None, 0, {}, time.perf_counter() - started)
    loads_through = con.execute("select max(loaded_at) from loads").fetchone()[0]
    days = int((window.end - window.start) / DAY)
    rows = {m.name: 0 for m in models if m.materialize in ("incremental", "replace")}
    spent: dict[str, float] = {}
    con.execute("begin transaction")
    try:
        _register_reference(con, settings)
        for i in range(days):
            chunk = Window(window.start + i * DAY, window.start + (i + 1) * DAY)
            params = _parameters(settings, chunk)
            for model in models:
                began = time.perf_counter()
                if model.materialize == "temp":
                    con.execute(f"create or replace temp table {model.name} as {model.sql}", _bind(model, params))
                    if model.name == "int_node_steps":
                        _check_priced(con, chunk.start)
                elif model.materialize == "merge":
                    con.execute(f"insert or ignore into {model.name} by name {model.sql}", _bind(model, params))
                elif model.materialize == "incremental":
                    rows[model.name] += _replace_chunk(con, model, chunk, params)
                spent[model.name] = spent.get(model.name, 0.0) + time.perf_counter() - began
            _check_identity(con, chunk)
            if progress:
                progress(i + 1, days)
        params = _parameters(settings, window)
        for model in models:
            if model.materialize == "replace":
                con.execute(f"delete from {model.name}")
                con.execute(f"insert into {model.name} by name {model.sql}", _bind(model, params))
                rows[model.name] = con.execute(f"select count(*) from {model.name}").fetchone()[0]
        con.execute("insert into builds values (now()::timestamp, ?, ?, ?)",
                    [window.start, window.end, loads_through])
        con.execute("commit")
    except duckdb.Error as exc:
        con.execute("rollback")
        raise GpucostError(f"build failed: {str(exc).splitlines()[0]}") from None
    except BaseException:
        con.execute("rollback")
        raise
    return BuildSummary(window, days, rows, time.perf_counter() - started, spent)
