"""End to end on the simulated fleet: the books balance every day, rebuilds are identical."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from gpucost.build import build
from gpucost.cli import main
from gpucost.ingest.loads import Window
from gpucost.ingest.simulate import SimConfig, simulate_to_warehouse
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse, public_tables
from conftest import simulated

CONFIG = SimConfig(gpus=48, days=2, seed=7)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Settings:
    return simulated(tmp_path_factory.mktemp("demo") / "demo.duckdb", CONFIG)


def checksums(con, folder) -> dict[str, str]:
    """sha256 of each public table exported as CSV in a total order."""
    folder.mkdir()
    sums = {}
    for name in public_tables() + ("usage_hourly", "fragmentation_hourly", "int_job_daily"):
        path = folder / f"{name}.csv"
        con.execute(f"copy (select * from {name} order by all) to '{path}' (header)")
        sums[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums


def test_identity_holds_every_day(demo):
    with open_warehouse(demo, read_only=True) as con:
        days = con.execute("""
            with usage as (
                select date_trunc('day', ts) as day, state, cost_usd from gpu_usage
            ),
            by_day as (
                select day,
                       sum(cost_usd) filter (where state = 'active') as active,
                       sum(cost_usd) filter (where state = 'allocated_idle') as idle,
                       sum(cost_usd) filter (where state = 'unallocated') as unallocated,
                       coalesce(sum(cost_usd) filter (where state = 'no_data'), 0) as no_data
                from usage group by day
            ),
            assets as (
                select window_start as day, sum(gpu_cost_usd) as gpu_cost from asset_costs group by 1
            )
            select b.*, a.gpu_cost from by_day b full join assets a using (day) order by day
        """).fetchall()
        jobs, observed = con.execute("""
            select (select sum(cost_usd) from job_costs),
                   sum(cost_usd) filter (where state in ('active', 'allocated_idle'))
            from gpu_usage""").fetchone()
    assert len(days) == CONFIG.days
    for day, active, idle, unallocated, no_data, gpu_cost in days:
        assert min(active, idle, unallocated) > 0, day  # the demo has every state every day
        assert active + idle + unallocated + no_data == pytest.approx(gpu_cost, rel=1e-9), day
    assert jobs == pytest.approx(observed, rel=1e-9)


def test_every_state_and_price_source_appears(demo):
    with open_warehouse(demo, read_only=True) as con:
        states = {r[0] for r in con.execute("select distinct state from gpu_usage").fetchall()}
        sources = {r[0] for r in con.execute("select distinct price_source from asset_costs").fetchall()}
        mig = con.execute("select count(*) from gpu_usage where mig_profile is not null").fetchone()[0]
    assert states == {"active", "allocated_idle", "unallocated", "no_data"}
    assert sources == {"spot_history", "catalog_list"}
    assert mig > 0


def test_rebuild_is_byte_identical(demo, tmp_path):
    copy = replace(demo, db=tmp_path / "copy.duckdb")
    copy.db.write_bytes(demo.db.read_bytes())
    with open_warehouse(copy) as con:
        first = checksums(con, tmp_path / "first")
        window = Window(*con.execute("select min(window_start), max(window_end) from loads").fetchone())
        build(con, copy, window)
        second = checksums(con, tmp_path / "second")
        # re-simulating the same window replaces raw rows with the same values
        simulate_to_warehouse(con, CONFIG)
        build(con, copy)
        third = checksums(con, tmp_path / "third")
    assert first == second == third


def test_demo_command_prints_a_summary(tmp_path, capsys):
    db = tmp_path / "cli.duckdb"
    assert main(["demo", "--db", str(db), "--gpus", "16", "--days", "1", "--no-serve"]) == 0
    out = capsys.readouterr().out
    assert "simulated 16 GPUs" in out and "GPU spend" in out and "allocated_idle" in out
    assert main(["--db", str(db), "query", "select count(*) as n from job_costs", "--format", "csv"]) == 0
    assert int(capsys.readouterr().out.splitlines()[1]) > 0
