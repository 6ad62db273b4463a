"""Shared fixtures: a warehouse in a temporary folder and the path to ../shared/data."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from gpucost.settings import CostSplit, Settings

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """../shared/data beside the repository, or $GPUCOST_SHARED_DATA."""
    return Path(os.environ.get("GPUCOST_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real public data not found at {path} (set GPUCOST_SHARED_DATA)")
    return path


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright (never `playwright install`)."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=tmp_path / "warehouse.duckdb")


def insert_gpu_usage(con, columns: str, rows: list[tuple]) -> None:
    """Write rows given in gpu_usage's public columns into its star (steps + dimensions).

    ``columns``: a comma-separated subset of the view's columns naming the tuple fields.
    """
    names = [c.strip() for c in columns.split(",")]
    types = dict(con.execute("select column_name, data_type from information_schema.columns "
                             "where table_name = 'gpu_usage'").fetchall())
    con.execute("create or replace temp table _usage (" + ", ".join(f"{n} {types[n]}" for n in types) + ")")
    con.executemany(f"insert into _usage ({', '.join(names)}) values ({', '.join('?' * len(names))})", rows)
    con.execute("""
        create or replace temp table _keyed as
        select *,
               gpu_device_key(cluster, node, instance_type, capacity_type, gpu_uuid, gpu_index,
                              coalesce(device_id, gpu_uuid), gpu_model, mig_profile, null) as device_key,
               case when pod is not null then gpu_pod_key(cluster, namespace, pod, job, team) end as pod_key
        from _usage""")
    con.execute("""insert or ignore into gpu_usage_devices
        select distinct device_key, cluster, node, instance_type, capacity_type, gpu_uuid, gpu_index,
               coalesce(device_id, gpu_uuid), gpu_model, mig_profile, null from _keyed""")
    con.execute("""insert or ignore into gpu_usage_pods
        select distinct pod_key, cluster, namespace, pod, job, team from _keyed where pod_key is not null""")
    con.execute("""insert into gpu_usage_steps (ts, device_key, pod_key, state, util_pct, mem_used_bytes,
                                                mem_total_bytes, power_w, gpu_hours, cost_usd, price_source)
        select ts, device_key, pod_key, state, util_pct, mem_used_bytes, mem_total_bytes, power_w,
               coalesce(gpu_hours, 0), cost_usd, coalesce(price_source, 'test') from _keyed""")


POD_SCHEMA = pa.schema([
    ("cluster", pa.string()), ("namespace", pa.string()), ("pod", pa.string()), ("node", pa.string()),
    ("valid_from", pa.timestamp("us")), ("valid_to", pa.timestamp("us")), ("gpu_request", pa.int32()),
    ("mig_profile", pa.string()), ("devices", pa.list_(pa.string())), ("owner_kind", pa.string()),
    ("owner_name", pa.string()), ("labels", pa.map_(pa.string(), pa.string())),
    ("cpu_request_cores", pa.float64()), ("memory_request_bytes", pa.int64())])


def pods_table(rows: list[dict]) -> pa.Table:
    """raw_pod_allocations rows from dicts (keys left out are null; labels as (key, value) pairs)."""
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in POD_SCHEMA} for r in rows], schema=POD_SCHEMA)


@contextmanager
def built_world(settings: Settings, tables: list[tuple[str, pa.Table]], day: datetime, days: int = 1,
                step_seconds: int = 3600, gpu_share: float | None = 0.5):
    """A warehouse holding ``tables`` as one load over [day, day + days), built; yields the
    connection. Hourly steps and a fixed GPU share by default, as the hand-built worlds use."""
    s = replace(settings, step_seconds=step_seconds)
    if gpu_share is not None:
        s = replace(s, cost=CostSplit(gpu_share=gpu_share))
    from gpucost.build import build
    from gpucost.ingest.loads import Window, load_tables
    from gpucost.warehouse import open_warehouse

    with open_warehouse(s, create=True) as con:
        load_tables(con, "test", Window(day, day + timedelta(days=days)), tables)
        build(con, s)
        yield con


def simulated(db: Path, config, recommend: bool = False, publish: bool = False) -> Settings:
    """A warehouse at ``db`` holding the simulator's world for ``config`` (a SimConfig), built;
    optionally with recommendations computed and the dashboard's snapshot published."""
    from gpucost.build import build
    from gpucost.commands.recommend import compute
    from gpucost.ingest.simulate import simulate_to_warehouse
    from gpucost.warehouse import open_warehouse, publish_snapshot

    settings = Settings(db=db)
    with open_warehouse(settings, create=True) as con:
        simulate_to_warehouse(con, config)
        build(con, settings)
        if recommend:
            compute(con, settings)
        if publish:
            publish_snapshot(con, settings)
    return settings
