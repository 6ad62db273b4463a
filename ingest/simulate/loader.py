"""Writing a simulated world into the warehouse: one RawLoad per UTC day.

Each day's load (source 'simulator', window = the day clipped to the simulation window)
writes raw_nodes, raw_gpu_devices, raw_pod_allocations (intervals clipped to the day),
raw_prices (spot prices effective in the day, including one at its start) and
raw_dcgm_samples (in batches of DCGM_BATCH_HOURS hours). Re-running the same config
replaces each day's rows instead of duplicating them.

Generation is sequential on purpose: DuckDB's insert already keeps about 1.5 of the 2
cores busy and takes the GIL often, so a generator thread or process only slowed it down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterator

import duckdb
import numpy as np
import pyarrow as pa

from gpucost.errors import GpucostError
from gpucost.ingest.loads import RawLoad, Window
from gpucost.ingest.simulate.config import SimConfig
from gpucost.ingest.simulate.tables import Tables
from gpucost.ingest.simulate.telemetry import Block
from gpucost.ingest.simulate.world import World, build_world

SOURCE = "simulator"
DCGM_BATCH_HOURS = 6


@dataclass(frozen=True)
class SimSummary:
    """What a simulation wrote. allocated_pct: mean share of physical GPUs held by pods
    over the window (MIG slices count as their share of the GPU), in %."""

    nodes: int
    gpus: int
    pods: int
    dcgm_rows: int
    window_start: datetime
    window_end: datetime
    devices: int = 0
    mig_devices: int = 0
    spot_interruptions: int = 0
    spot_price_rows: int = 0
    telemetry_gaps: int = 0
    allocated_pct: float = 0.0
    loads: int = 0


def pieces(blocks: Iterator[Block], windows: list[tuple[int, int]]) -> Iterator[tuple[int, Block, int, int]]:
    """(window index, block, first step, end step) for each part of a block inside a window."""
    w = 0
    for block in blocks:
        t = block.t0
        while t < block.t0 + block.n:
            while windows[w][1] <= t:
                w += 1
            end = min(windows[w][1], block.t0 + block.n)
            yield w, block, t - block.t0, end - block.t0
            t = end


def dcgm_batches(world: World, tables: Tables) -> Iterator[tuple[int, pa.Table | None]]:
    """(window index, DCGM table) batches in order; (window index, None) closes a window."""
    windows = world.cfg.day_windows()
    batch: list = []
    current = 0
    for w, block, s0, s1 in pieces(world.telemetry().blocks(), windows):
        if w != current or len(batch) == DCGM_BATCH_HOURS:
            if batch:
                yield current, tables.dcgm(batch)
            if w != current:
                yield current, None
            batch, current = [], w
        batch.append((block, s0, s1))
    if batch:
        yield current, tables.dcgm(batch)
    yield current, None


def summarize(world: World, dcgm_rows: int, loads: int) -> SimSummary:
    cfg, fleet, sched = world.cfg, world.fleet, world.schedule
    live = [n for n in fleet.nodes if n.start < cfg.n_steps and n.end > 0]
    devs = [d for n in live for d in fleet.node_devices[n.idx]]
    held = sum(float(np.sum(fleet.devices.share[list(p.devices)])) * (p.end - max(0, p.start))
               for p in sched.pods)
    return SimSummary(
        nodes=len(live), gpus=cfg.gpus, pods=len(sched.pods), dcgm_rows=dcgm_rows,
        window_start=cfg.start, window_end=cfg.end, devices=len(devs),
        mig_devices=int(np.sum(fleet.devices.mig_id[devs] >= 0)) if devs else 0,
        spot_interruptions=sum(1 for n in live if n.interrupted),
        spot_price_rows=len(world.prices.rows), telemetry_gaps=len(world.gaps.node),
        allocated_pct=round(100.0 * held / (cfg.gpus * cfg.n_steps), 2), loads=loads)


def simulate_to_warehouse(con: duckdb.DuckDBPyConnection, cfg: SimConfig,
                          progress: Callable[[int, int], None] | None = None) -> SimSummary:
    """Simulate `cfg` and write it, one RawLoad per UTC day; progress(done_days, total_days)."""
    world = build_world(cfg)
    tables = Tables(cfg, world.fleet, world.schedule, world.prices)
    windows = cfg.day_windows()
    batches = dcgm_batches(world, tables)
    rows = 0
    for w, (a, b) in enumerate(windows):
        with RawLoad(con, SOURCE, Window(cfg.to_datetime(a), cfg.to_datetime(b))) as load:
            load.write("raw_nodes", tables.nodes(a, b))
            load.write("raw_gpu_devices", tables.devices(a, b))
            load.write("raw_pod_allocations", tables.pods(a, b))
            load.write("raw_prices", tables.prices_table(a, b))
            load.write("raw_dcgm_samples", tables.dcgm_empty())
            for bw, table in batches:
                if bw != w:
                    raise GpucostError(f"simulator batches out of order: day {bw} while writing day {w}")
                if table is None:
                    break
                rows += load.write("raw_dcgm_samples", table)
        if progress is not None:
            progress(w + 1, len(windows))
    return summarize(world, rows, len(windows))
