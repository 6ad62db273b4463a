"""Shared fixtures: a warehouse in a temporary folder and the path to ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gpucost.settings import Settings

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
    con.execute("""insert into gpu_usage_steps
        select ts, device_key, pod_key, state, util_pct, mem_used_bytes, mem_total_bytes, power_w,
               coalesce(gpu_hours, 0), cost_usd, coalesce(price_source, 'test') from _keyed""")
