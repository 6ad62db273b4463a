"""The demo data source (gpucost.ingest.simulate): structure and invariants of what it writes.

Fixture world (module scope): SimConfig(gpus=32, days=2, seed=3) into an in-memory
warehouse. 32 GPUs plan to 1 p5.48xlarge (8 H100), 1 p4d.24xlarge (8 A100, MIG
`all-balanced`: 4 slices per GPU), 8 g5.xlarge (A10G) and 8 g6.xlarge (L4), mostly spot.

| property                               | expected                                    |
|----------------------------------------|---------------------------------------------|
| loads                                  | 2 days x 5 raw tables, windows = UTC days   |
| physical GPUs alive at any step        | <= 32 (32 except while a spot node is gone) |
| allocations per device                 | never overlapping                           |
| MIG devices                            | 32 slices, `<UUID>/<GPU_I_ID>`, no GPU_UTIL |
| L4 rows                                | PROF fields null, GPU_UTIL present          |
| gaps                                   | one >= 2 h outage, 5-20 min restarts        |
| spot interruptions                     | >= 1, replaced by a new node within 10 min  |
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from gpucost.errors import GpucostError
from gpucost.ingest.catalog import catalog
from gpucost.ingest.simulate import SimConfig, simulate_to_warehouse
from gpucost.ingest.simulate import calibration, fleet, loader
from gpucost.ingest.simulate.prices import SPOT_SAVINGS_PCT
from gpucost.ingest.simulate.tables import Tables
from gpucost.ingest.simulate.world import build_world
from gpucost.warehouse import migrate

CFG = SimConfig(gpus=32, days=2, seed=3)
RAW = ("raw_nodes", "raw_gpu_devices", "raw_pod_allocations", "raw_dcgm_samples", "raw_prices")


def warehouse() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    migrate(con, Path(":memory:"))
    return con


@pytest.fixture(scope="module")
def wh():
    con = warehouse()
    calls = []
    summary = simulate_to_warehouse(con, CFG, progress=lambda done, total: calls.append((done, total)))
    yield con, summary, calls
    con.close()


def rows(con, sql, *params):
    return con.execute(sql, list(params)).fetchall()


def one(con, sql, *params):
    return con.execute(sql, list(params)).fetchone()[0]


# -- configuration and fleet --------------------------------------------------------------

@pytest.mark.parametrize("gpus", [8, 9, 13, 16, 31, 32, 64, 100, 1000, 4321, 10_000])
def test_fleet_has_exactly_the_requested_gpus(gpus):
    slots = fleet.plan_slots(gpus, seed=0)
    assert sum(catalog()[s.instance_type].device_count for s in slots) == gpus
    assert {s.instance_type for s in slots} <= set(fleet.INSTANCE_TYPES)


def test_large_fleet_mix_is_about_30_25_25_20_percent():
    counts = fleet.plan_counts(1000)
    by_model = {"p5": 0, "p4d": 0, "g5": 0, "g6": 0}
    for itype, n in counts.items():
        by_model[itype.split(".")[0]] += n * catalog()[itype].device_count
    assert by_model["p5"] == pytest.approx(300, abs=10)
    assert by_model["p4d"] == pytest.approx(250, abs=10)
    assert by_model["g5"] == pytest.approx(250, abs=10)
    assert by_model["g6"] == pytest.approx(200, abs=10)
    slots = fleet.plan_slots(1000, seed=0)
    p4d = [s for s in slots if s.instance_type == "p4d.24xlarge"]
    assert 0.05 <= sum(1 for s in p4d if s.mig_layout) / len(p4d) <= 0.15
    assert all(s.capacity_type == "on_demand" for s in slots if s.instance_type == "p5.48xlarge" or s.mig_layout)
    g_spot = [s.capacity_type == "spot" for s in slots if s.instance_type.startswith("g")]
    assert 0.5 < np.mean(g_spot) < 0.8


@pytest.mark.parametrize("kwargs", [dict(gpus=7), dict(gpus=10_001), dict(days=0), dict(step_seconds=7),
                                    dict(start=datetime(2026, 11, 2, 0, 0, 30)), dict(cluster="")])
def test_invalid_config_is_refused(kwargs):
    with pytest.raises(GpucostError):
        SimConfig(**kwargs)


def test_normal_cdf_approximation():
    scipy_stats = pytest.importorskip("scipy.stats")
    z = np.linspace(-8, 8, 20001)
    assert np.max(np.abs(calibration.normal_cdf(z) - scipy_stats.norm.cdf(z))) < 2e-7


# -- loads ------------------------------------------------------------------------------------

def test_one_load_per_table_per_utc_day_and_progress(wh):
    con, summary, calls = wh
    windows = rows(con, "select distinct window_start, window_end from loads where source = 'simulator' order by 1")
    assert windows == [(CFG.start + timedelta(days=i), CFG.start + timedelta(days=i + 1)) for i in range(2)]
    assert rows(con, "select table_name, count(*) from loads group by 1 order by 1") == [(t, 2) for t in sorted(RAW)]
    assert calls == [(1, 2), (2, 2)]
    assert summary.dcgm_rows == one(con, "select count(*) from raw_dcgm_samples")
    assert summary.window_start == CFG.start and summary.window_end == CFG.end
    assert one(con, "select count(*) from raw_dcgm_samples where source <> 'simulator'") == 0


def test_non_midnight_start_is_cut_at_midnight():
    cfg = SimConfig(gpus=8, days=0.5, start=datetime(2026, 11, 2, 18, 30), seed=1)
    con = warehouse()
    simulate_to_warehouse(con, cfg)
    assert rows(con, "select distinct window_start, window_end from loads order by 1") == [
        (datetime(2026, 11, 2, 18, 30), datetime(2026, 11, 3)), (datetime(2026, 11, 3), datetime(2026, 11, 3, 6, 30))]
    assert one(con, "select min(ts) from raw_dcgm_samples") == cfg.start
    assert one(con, "select max(ts) from raw_dcgm_samples") == cfg.end - timedelta(minutes=1)


def test_intervals_are_clipped_to_their_day(wh):
    con = wh[0]
    for table in ("raw_nodes", "raw_gpu_devices", "raw_pod_allocations"):
        bad = one(con, f"""select count(*) from {table}
                          where valid_to > date_trunc('day', valid_from) + interval 1 day
                             or valid_to <= valid_from""")
        assert bad == 0, table
    # a pod running across midnight is two rows that meet at midnight
    assert one(con, "select count(*) from raw_pod_allocations where valid_to = timestamp '2026-11-03'") > 0
    assert one(con, "select count(*) from raw_pod_allocations where valid_from = timestamp '2026-11-03'") > 0


def test_reloading_the_same_config_replaces_rows(wh):
    con = warehouse()
    simulate_to_warehouse(con, replace(CFG, days=1))
    before = {t: one(con, f"select count(*) from {t}") for t in RAW}
    loads = one(con, "select count(*) from loads")
    simulate_to_warehouse(con, replace(CFG, days=1))
    assert {t: one(con, f"select count(*) from {t}") for t in RAW} == before
    assert one(con, "select count(*) from loads") == loads


# -- determinism --------------------------------------------------------------------------

def table_digest(con) -> dict[str, list]:
    return {t: rows(con, f"select * exclude (source) from {t} order by all") for t in RAW}


def test_same_seed_same_rows_other_seed_other_rows():
    cfg = SimConfig(gpus=16, days=0.5, seed=11)
    a, b, c = warehouse(), warehouse(), warehouse()
    simulate_to_warehouse(a, cfg)
    simulate_to_warehouse(b, cfg)
    simulate_to_warehouse(c, replace(cfg, seed=12))
    first, second, other = table_digest(a), table_digest(b), table_digest(c)
    for t in RAW:
        assert first[t] == second[t], t
    assert first["raw_dcgm_samples"] != other["raw_dcgm_samples"]
    assert first["raw_nodes"] != other["raw_nodes"]


def test_rows_do_not_depend_on_batching(monkeypatch):
    cfg = SimConfig(gpus=16, days=0.25, seed=5)
    world = build_world(cfg)
    tables = Tables(cfg, world.fleet, world.schedule, world.prices)

    def batches(hours: int) -> list:
        monkeypatch.setattr(loader, "DCGM_BATCH_HOURS", hours)
        out = [t for _, t in loader.dcgm_batches(world, tables) if t is not None]
        return sorted(map(tuple, (r.values() for t in out for r in t.to_pylist())), key=repr)

    assert batches(1) == batches(6)


# -- fleet, devices, allocations --------------------------------------------------------------

def test_gpu_total_and_node_identity(wh):
    con = wh[0]
    per_step = rows(con, """
        with steps as (select unnest(range(timestamp '2026-11-02', timestamp '2026-11-04', interval 30 minute)) as ts)
        select ts, sum(gpu_count) from steps join raw_nodes n on ts >= valid_from and ts < valid_to group by 1""")
    assert max(g for _, g in per_step) == 32 and min(g for _, g in per_step) >= 31
    for name, pid, zone, labels in rows(con, "select distinct node, provider_id, zone, labels from raw_nodes"):
        assert re.fullmatch(r"ip-10-1-\d{1,3}-\d{1,3}\.ec2\.internal", name)
        assert re.fullmatch(rf"aws:///{zone}/i-0[0-9a-f]{{16}}", pid)
        assert zone in ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d")
        for key in ("node.kubernetes.io/instance-type", "karpenter.sh/capacity-type", "topology.kubernetes.io/zone",
                    "nvidia.com/gpu.product", "nvidia.com/gpu.count"):
            assert key in labels
    assert one(con, "select count(*) from raw_nodes where region <> 'us-east-1'") == 0


def test_every_dcgm_row_has_a_device_and_a_node(wh):
    con = wh[0]
    orphans = one(con, """
        select count(*) from raw_dcgm_samples s
        where not exists (
            select 1 from raw_gpu_devices d
            where d.node = s.node and d.gpu_uuid = s.gpu_uuid
              and d.device_id = case when s.mig_instance_id is null then s.gpu_uuid
                                     else s.gpu_uuid || '/' || s.mig_instance_id end
              and s.ts >= d.valid_from and s.ts < d.valid_to)
           or not exists (select 1 from raw_nodes n where n.node = s.node and s.ts >= n.valid_from and s.ts < n.valid_to)""")
    assert orphans == 0
    assert one(con, """select count(*) from raw_gpu_devices d where not exists (
        select 1 from raw_nodes n where n.node = d.node and d.valid_from >= n.valid_from and d.valid_to <= n.valid_to)""") == 0
    assert rows(con, "select distinct length(gpu_uuid) from raw_gpu_devices") == [(40,)]
    assert one(con, r"select count(*) from raw_gpu_devices where not regexp_full_match(gpu_uuid, "
                    r"'GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')") == 0


def held_view(con) -> None:
    con.execute("""create or replace temp view held as
        select namespace, pod, node, valid_from, valid_to, unnest(devices) as device_id from raw_pod_allocations""")


def test_allocations_hold_existing_devices_and_never_overlap(wh):
    con = wh[0]
    held_view(con)
    assert one(con, """select count(*) from held h where not exists (
        select 1 from raw_gpu_devices d where d.node = h.node and d.device_id = h.device_id
          and h.valid_from >= d.valid_from and h.valid_to <= d.valid_to)""") == 0
    overlaps = one(con, """select count(*) from held a join held b
        on a.device_id = b.device_id and a.valid_from < b.valid_to and b.valid_from < a.valid_to
        and (a.namespace, a.pod, a.valid_from) <> (b.namespace, b.pod, b.valid_from)""")
    assert overlaps == 0
    assert one(con, "select count(*) from held") > 100


def test_dcgm_pod_labels_agree_with_allocations(wh):
    con = wh[0]
    held_view(con)
    labelled = one(con, "select count(*) from raw_dcgm_samples where pod is not null")
    matched = one(con, """select count(*) from raw_dcgm_samples s join held h
        on h.namespace = s.namespace and h.pod = s.pod and h.node = s.node
       and h.device_id = case when s.mig_instance_id is null then s.gpu_uuid else s.gpu_uuid || '/' || s.mig_instance_id end
       and s.ts >= h.valid_from and s.ts < h.valid_to""")
    assert labelled > 0 and matched == labelled
    unlabelled_but_held = one(con, """select count(*) from raw_dcgm_samples s join held h
        on h.node = s.node and s.ts >= h.valid_from and s.ts < h.valid_to
       and h.device_id = case when s.mig_instance_id is null then s.gpu_uuid else s.gpu_uuid || '/' || s.mig_instance_id end
        where s.pod is null""")
    assert unlabelled_but_held == 0


def test_workload_kinds_owners_and_teams(wh):
    con = wh[0]
    kinds = {r[0] for r in rows(con, "select distinct owner_kind from raw_pod_allocations")}
    assert {"Deployment", "Notebook"} <= kinds and kinds & {"PyTorchJob", "JobSet"} and kinds & {"Job", "CronJob"}
    namespaces = {r[0] for r in rows(con, "select distinct namespace from raw_pod_allocations")}
    assert namespaces <= {"ml-research", "nlp-platform", "vision", "search-ranking", "recsys", "data-science"}
    assert one(con, "select avg((labels['team'] is not null)::int) from raw_pod_allocations") > 0.8
    training = rows(con, """select distinct a.gpu_request, n.instance_type from raw_pod_allocations a
        join raw_nodes n on n.node = a.node where a.owner_kind in ('PyTorchJob', 'JobSet')""")
    assert training and all(g == 8 and t in ("p5.48xlarge", "p4d.24xlarge") for g, t in training)
    assert one(con, "select count(*) from raw_pod_allocations where gpu_request <> len(devices)") == 0


def test_mig_slices_are_devices_of_their_own(wh):
    con = wh[0]
    slices = rows(con, """select gpu_uuid, list(mig_profile order by mig_instance_id), sum(mem_total_bytes)
        from (select distinct gpu_uuid, device_id, mig_instance_id, mig_profile, mem_total_bytes
              from raw_gpu_devices where mig_profile is not null) group by 1""")
    assert len(slices) == 8
    for _uuid, profiles, mem in slices:
        assert profiles == ["3g.20gb", "2g.10gb", "1g.5gb", "1g.5gb"]
        assert sum(fleet.MIG_PROFILES[p][0] for p in profiles) == 7
        assert mem == sum(fleet.MIG_PROFILES[p][1] for p in profiles) * 1048576
    assert one(con, "select count(*) from raw_gpu_devices where mig_profile is not null "
                    "and device_id <> gpu_uuid || '/' || mig_instance_id") == 0
    mig_rows = rows(con, "select count(*), count(gpu_util), count(gr_engine_active) from raw_dcgm_samples "
                         "where mig_instance_id is not null")[0]
    assert mig_rows[0] > 0 and mig_rows[1] == 0 and mig_rows[2] == mig_rows[0]
    assert one(con, "select count(*) from raw_pod_allocations where mig_profile is not null "
                    "and gpu_request is null and len(devices) = 1") > 0


def test_l4_has_no_profiling_fields(wh):
    con = wh[0]
    l4 = rows(con, """select count(*), count(gpu_util), count(gr_engine_active) + count(sm_active)
        + count(tensor_active) + count(dram_active) from raw_dcgm_samples where gpu_model = 'NVIDIA L4'""")[0]
    assert l4[0] > 0 and l4[1] == l4[0] and l4[2] == 0
    others = rows(con, """select count(*), count(gr_engine_active), count(sm_active), count(tensor_active),
        count(dram_active) from raw_dcgm_samples where gpu_model <> 'NVIDIA L4'""")[0]
    assert len(set(others)) == 1


def test_telemetry_values_are_consistent(wh):
    con = wh[0]
    assert one(con, """select count(*) from raw_dcgm_samples
        where sm_active > gr_engine_active or tensor_active > sm_active
           or least(gr_engine_active, sm_active, tensor_active, dram_active) < 0
           or greatest(gr_engine_active, sm_active, tensor_active, dram_active) > 1
           or gpu_util < 0 or gpu_util > 100 or gpu_util <> round(gpu_util)
           or round(gr_engine_active, 6) <> gr_engine_active or round(power_w, 3) <> power_w
           or fb_used_mib <> round(fb_used_mib) or fb_used_mib < 0
           or epoch(ts)::bigint % 60 <> 0""") == 0
    bad_memory = one(con, """select count(*) from raw_dcgm_samples s join raw_gpu_devices d
        on d.node = s.node and d.gpu_uuid = s.gpu_uuid and d.mig_instance_id is not distinct from s.mig_instance_id
       and s.ts >= d.valid_from and s.ts < d.valid_to
        where (s.fb_used_mib + s.fb_free_mib) * 1048576 <> d.mem_total_bytes""")
    assert bad_memory == 0
    power = dict(rows(con, "select gpu_model, max(power_w) from raw_dcgm_samples group by 1"))
    limits = {"NVIDIA H100 80GB HBM3": 700, "NVIDIA A100-SXM4-40GB": 400, "NVIDIA A10G": 300, "NVIDIA L4": 72}
    assert set(power) == set(limits) and all(power[m] <= limits[m] for m in limits)
    assert power["NVIDIA H100 80GB HBM3"] > 300   # training draws well above idle
    idle = rows(con, """select count(*), count(*) filter (where coalesce(gpu_util, 0) = 0
        and coalesce(gr_engine_active, 0) = 0 and fb_used_mib = 0) from raw_dcgm_samples where pod is null""")[0]
    assert idle[0] > 0 and idle[0] == idle[1]


def test_telemetry_gaps_leave_rows_absent(wh):
    con = wh[0]
    gaps = [r[0] for r in rows(con, """
        with held as (select node, gpu_uuid, mig_instance_id, ts,
                             lead(ts) over (partition by node, gpu_uuid, mig_instance_id order by ts) as next
                      from raw_dcgm_samples)
        select epoch(next - ts) / 60 - 1 from held where next - ts > interval 1 minute""")]
    assert 120 <= max(gaps) <= 6 * 60 + 40                   # the one multi-hour outage
    assert any(5 <= g <= 20 for g in gaps)                   # exporter restarts


def test_spot_interruptions_replace_nodes(wh):
    con, summary, _ = wh
    assert summary.spot_interruptions >= 1
    ended = rows(con, """select node, instance_type, capacity_type, max(valid_to) from raw_nodes group by all
        having max(valid_to) < timestamp '2026-11-04'""")
    assert ended and all(c == "spot" for _, _, c, _ in ended)
    for node, itype, _, end in ended:
        replacement = one(con, """select count(*) from (select node, min(valid_from) as first from raw_nodes
            where instance_type = ? group by 1) where first > ? and first <= ? + interval 10 minute""", itype, end, end)
        assert replacement >= 1, node
        assert one(con, "select count(*) from raw_pod_allocations where node = ? and valid_to > ?", node, end) == 0


def test_spot_price_history(wh):
    con = wh[0]
    pairs = rows(con, "select distinct instance_type, zone from raw_nodes where capacity_type = 'spot'")
    for itype, zone in pairs:
        prices = rows(con, """select effective_at, usd_per_hour from raw_prices
            where kind = 'spot' and region = 'us-east-1' and instance_type = ? and zone = ? order by 1""", itype, zone)
        starts = {t for t, _ in prices}
        assert {datetime(2026, 11, 2), datetime(2026, 11, 3)} <= starts, (itype, zone)
        mean = catalog()[itype].usd_per_hour * (1 - SPOT_SAVINGS_PCT[itype] / 100)
        assert all(0.8 * mean <= p <= 1.2 * mean and round(p, 4) == p for _, p in prices)
    assert len(pairs) >= 2
    assert one(con, "select count(distinct usd_per_hour) from raw_prices") > len(pairs)


def test_cluster_is_partly_allocated_and_fragmented():
    """Design target: about 60-75 % of GPUs allocated; some nodes partly used."""
    con = warehouse()
    summary = simulate_to_warehouse(con, SimConfig(gpus=128, days=1, seed=2))
    assert 55 <= summary.allocated_pct <= 85
    partial = one(con, """
        with steps as (select unnest(range(timestamp '2026-11-02', timestamp '2026-11-03', interval 1 hour)) as ts),
        held as (select n.node, s.ts, n.gpu_count,
                        coalesce(sum(len(a.devices)) filter (where a.mig_profile is null), 0) as used
                 from steps s join raw_nodes n on s.ts >= n.valid_from and s.ts < n.valid_to
                 left join raw_pod_allocations a on a.node = n.node and s.ts >= a.valid_from and s.ts < a.valid_to
                 where n.gpu_count > 1 and not map_contains(n.labels, 'nvidia.com/mig.config')
                 group by all)
        select count(*) from held where used > 0 and used < gpu_count""")
    assert partial > 0
