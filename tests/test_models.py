"""SQL models, given rows -> expected rows, on a small hand-built world.

The world: one day, 2026-11-02, hourly steps (step_seconds = 3600), GPU share fixed at 0.5.

Node A  g5.12xlarge on-demand, 4 GPUs, all day, catalog list $5.672/h
        -> GPU cost $2.836/h, $0.709 per GPU-hour.
  a0  GPU_UTIL 80 all day (no PROF fields); pod train-0 (PyTorchJob bert, ns ml,
      label team=research) holds it 00-10h              -> 10 h active, 14 h unallocated
  a1  PROF_GR_ENGINE_ACTIVE 0.02 and GPU_UTIL 90 all day; notebook nb-0 (Notebook alice,
      ns ds, no team label) holds it all day (PROF wins: 2 % < 5 %)  -> 24 h allocated_idle
  a2  samples 00-12h only, nobody holds it              -> 12 h unallocated, 12 h no_data
  a3  no samples at all; pod infer-0 (Deployment ranker, ns search, team=search) 00-06h
                                                         -> 24 h no_data (6 h of them held)
Node B  p4d.24xlarge spot in us-east-1a, 8 GPUs, 00-12h; spot $10/h published the day
        before, $8/h from 06:00 -> GPU cost per GPU-hour $0.625 (00-06h), $0.5 (06-12h),
        $6.75 per GPU over the 12 h.
  GPU0 is MIG-partitioned: 3g.20gb (id 1, 3/7), 2g.10gb (id 2, 2/7), 1g.5gb (ids 3, 4, 1/7 each)
    slice 1  PROF 0.5, pod llm-0 (Deployment chat, ns nlp, team=nlp)  -> 12 h active x 3/7
    slice 2  PROF 0, nobody                                            -> 12 h unallocated x 2/7
    slices 3, 4  samples with no activity field (MIG has no GPU_UTIL)  -> 12 h no_data x 1/7 each
  GPUs 1-7 were never seen by a collector -> synthetic devices, 12 h no_data each.

Expected, by state (GPU-hours, USD):
  active          10 + 36/7 = 15.142857    7.09 + 3/7 x 6.75 = 9.982857142857
  allocated_idle  24                       17.016
  unallocated     26 + 24/7 = 29.428571    18.434 + 2/7 x 6.75 = 20.362571428571
  no_data         36 + 24/7 + 84           25.524 + 2/7 x 6.75 + 47.25 = 74.702571428571
  total           192                      122.064 = node A 68.064 + node B 54
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from gpucost.build import build, load_models
from gpucost.errors import GpucostError
from gpucost.ingest.loads import Window, load_tables
from gpucost.settings import CostSplit
from gpucost.warehouse import open_warehouse

DAY0 = datetime(2026, 11, 2)
WINDOW = Window(DAY0, DAY0 + timedelta(days=1))


def h(hours: float) -> datetime:
    return DAY0 + timedelta(hours=hours)


def table(rows: list[dict]) -> pa.Table:
    keys = list(dict.fromkeys(k for row in rows for k in row))  # from_pylist keeps the first row's keys
    return pa.Table.from_pylist([{k: row.get(k) for k in keys} for row in rows])


def dcgm(device: str, node: str, hours: range, mig: int | None = None, **fields) -> list[dict]:
    return [dict(ts=h(i), cluster="c", node=node, gpu_uuid=device, mig_instance_id=mig,
                 fb_used_mib=1000.0, fb_free_mib=3000.0, **fields) for i in hours]


def world_tables() -> list[tuple[str, pa.Table]]:
    nodes = [
        dict(cluster="c", node="a", valid_from=h(0), valid_to=h(24), instance_type="g5.12xlarge",
             capacity_type="on_demand", zone="us-east-1b", gpu_count=4,
             provider_id="aws:///us-east-1b/i-0aaa"),
        dict(cluster="c", node="b", valid_from=h(0), valid_to=h(12), instance_type="p4d.24xlarge",
             capacity_type="spot", zone="us-east-1a", gpu_count=8),
    ]
    devices = [dict(cluster="c", node="a", valid_from=h(0), valid_to=h(24), device_id=f"GPU-a{i}",
                    gpu_index=i, gpu_uuid=f"GPU-a{i}", gpu_model="NVIDIA A10G") for i in range(4)]
    for mig, profile in [(1, "3g.20gb"), (2, "2g.10gb"), (3, "1g.5gb"), (4, "1g.5gb")]:
        devices.append(dict(cluster="c", node="b", valid_from=h(0), valid_to=h(12), device_id=f"GPU-b0/{mig}",
                            gpu_index=0, gpu_uuid="GPU-b0", gpu_model="NVIDIA A100-SXM4-40GB",
                            mig_instance_id=mig, mig_profile=profile))
    samples = (dcgm("GPU-a0", "a", range(24), gpu_util=80.0)
               + dcgm("GPU-a1", "a", range(24), gpu_util=90.0, gr_engine_active=0.02)
               + dcgm("GPU-a2", "a", range(12), gpu_util=0.0)
               + dcgm("GPU-b0", "b", range(12), mig=1, gr_engine_active=0.5)
               + dcgm("GPU-b0", "b", range(12), mig=2, gr_engine_active=0.0)
               + dcgm("GPU-b0", "b", range(12), mig=3)
               + dcgm("GPU-b0", "b", range(12), mig=4))
    pods = [
        dict(cluster="c", namespace="ml", pod="train-0", node="a", valid_from=h(0), valid_to=h(10),
             gpu_request=1, devices=["GPU-a0"], owner_kind="PyTorchJob", owner_name="bert",
             labels=[("team", "research")]),
        dict(cluster="c", namespace="ds", pod="nb-0", node="a", valid_from=h(0), valid_to=h(24),
             gpu_request=1, devices=["GPU-a1"], owner_kind="Notebook", owner_name="alice", labels=[]),
        dict(cluster="c", namespace="search", pod="infer-0", node="a", valid_from=h(0), valid_to=h(6),
             gpu_request=1, devices=["GPU-a3"], owner_kind="Deployment", owner_name="ranker",
             labels=[("team", "search")]),
        dict(cluster="c", namespace="nlp", pod="llm-0", node="b", valid_from=h(0), valid_to=h(12),
             gpu_request=0, mig_profile="3g.20gb", devices=["GPU-b0/1"], owner_kind="Deployment",
             owner_name="chat", labels=[("team", "nlp")]),
    ]
    labels = pa.map_(pa.string(), pa.string())
    pods_table = pa.Table.from_pylist(pods, schema=pa.schema([
        ("cluster", pa.string()), ("namespace", pa.string()), ("pod", pa.string()), ("node", pa.string()),
        ("valid_from", pa.timestamp("us")), ("valid_to", pa.timestamp("us")), ("gpu_request", pa.int32()),
        ("mig_profile", pa.string()), ("devices", pa.list_(pa.string())), ("owner_kind", pa.string()),
        ("owner_name", pa.string()), ("labels", labels)]))
    return [("raw_nodes", table(nodes)), ("raw_gpu_devices", table(devices)),
            ("raw_dcgm_samples", table(samples)), ("raw_pod_allocations", pods_table)]


def spot_prices() -> pa.Table:
    return table([
        dict(kind="spot", region="us-east-1", zone="us-east-1a", instance_type="p4d.24xlarge",
             effective_at=h(-1), usd_per_hour=10.0),
        dict(kind="spot", region="us-east-1", zone="us-east-1a", instance_type="p4d.24xlarge",
             effective_at=h(6), usd_per_hour=8.0),
    ])


@pytest.fixture
def world_settings(settings):
    return replace(settings, step_seconds=3600, cost=CostSplit(gpu_share=0.5))


def load_world(con, extra: list[tuple[str, pa.Table]] = ()) -> None:
    load_tables(con, "test", WINDOW, world_tables() + list(extra))
    load_tables(con, "test", Window(h(-24), h(0)), [("raw_prices", spot_prices()[:1])])
    load_tables(con, "test", WINDOW, [("raw_prices", spot_prices()[1:])])


@pytest.fixture
def built(world_settings):
    with open_warehouse(world_settings, create=True) as con:
        load_world(con)
        build(con, world_settings)
        yield con


def by_state(con) -> dict[str, tuple[float, float]]:
    rows = con.execute("select state, sum(gpu_hours), sum(cost_usd) from gpu_usage group by state").fetchall()
    return {state: (hours, cost) for state, hours, cost in rows}


def test_models_run_in_dependency_order():
    order = [m.name for m in load_models()]
    assert order.index("stg_nodes") < order.index("int_node_steps") < order.index("gpu_usage_steps")
    assert order.index("gpu_usage_steps") < order.index("int_job_daily") < order.index("job_costs")
    assert order.index("gpu_usage_pods") < order.index("int_job_daily")
    assert order[-1] == "job_costs"


def test_gpu_usage_states_and_costs(built):
    states = by_state(built)
    expected = {
        "active": (10 + 36 / 7, 7.09 + 3 / 7 * 6.75),
        "allocated_idle": (24, 17.016),
        "unallocated": (26 + 24 / 7, 18.434 + 2 / 7 * 6.75),
        "no_data": (36 + 24 / 7 + 84, 25.524 + 2 / 7 * 6.75 + 47.25),
    }
    assert states.keys() == expected.keys()
    for state, (hours, cost) in expected.items():
        assert states[state][0] == pytest.approx(hours, rel=1e-12), state
        assert states[state][1] == pytest.approx(cost, rel=1e-12), state


def test_gpu_usage_rows(built):
    # one row per device per step: node A 4 x 24, node B (4 slices + 7 synthetic) x 12
    assert built.execute("select count(*) from gpu_usage").fetchone()[0] == 4 * 24 + 11 * 12
    row = built.execute("""select state, namespace, pod, job, team, util_pct, mem_used_bytes, mem_total_bytes
                           from gpu_usage where device_id = 'GPU-a1' and ts = ?""", [h(3)]).fetchone()
    assert row == ("allocated_idle", "ds", "nb-0", "alice", "ds", 2.0, 1000 * 2**20, 4000 * 2**20)
    # held, but no telemetry: no_data, with the holder kept for the record
    row = built.execute("select state, job, team from gpu_usage where device_id = 'GPU-a3' and ts = ?",
                        [h(2)]).fetchone()
    assert row == ("no_data", "ranker", "search")
    synthetic = built.execute("""select count(distinct device_id), min(state), max(state) from gpu_usage
                                 where node = 'b' and mig_profile is null""").fetchone()
    assert synthetic == (7, "no_data", "no_data")
    llm = built.execute("select gpu_hours, cost_usd from gpu_usage where device_id = 'GPU-b0/1' and ts = ?",
                        [h(7)]).fetchone()
    assert llm == pytest.approx((3 / 7, 3 / 7 * 0.5))


def test_asset_costs(built):
    rows = built.execute("""select node, price_source, hours, usd_per_hour, cost_usd, gpu_cost_usd, gpu_count
                            from asset_costs order by node""").fetchall()
    assert rows[0] == ("a", "catalog_list", 24.0, pytest.approx(5.672), pytest.approx(136.128),
                       pytest.approx(68.064), 4)
    assert rows[1] == ("b", "spot_history", 12.0, pytest.approx(9.0), pytest.approx(108.0),
                       pytest.approx(54.0), 8)


def test_job_costs(built):
    rows = built.execute("""select namespace, job, team, gpu_model, first_seen_at, last_seen_at, gpus_max,
                                   gpu_hours, active_gpu_hours, idle_gpu_hours, no_data_gpu_hours,
                                   util_avg_pct, cost_usd, idle_cost_usd, no_data_cost_usd
                            from job_costs order by namespace""").fetchall()
    expected = [
        ("ds", "alice", "ds", "NVIDIA A10G", h(0), h(24), 1.0, 24.0, 0.0, 24.0, 0.0, 2.0, 17.016, 17.016, 0.0),
        ("ml", "bert", "research", "NVIDIA A10G", h(0), h(10), 1.0, 10.0, 10.0, 0.0, 0.0, 80.0, 7.09, 0.0, 0.0),
        ("nlp", "chat", "nlp", "NVIDIA A100-SXM4-40GB", h(0), h(12), 3 / 7, 36 / 7, 36 / 7, 0.0, 0.0, 50.0,
         3 / 7 * 6.75, 0.0, 0.0),
        ("search", "ranker", "search", "NVIDIA A10G", h(0), h(6), 1.0, 0.0, 0.0, 0.0, 6.0, None, 0.0, 0.0,
         6 * 0.709),
    ]
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected):
        assert got[:6] == want[:6]
        for g, w in zip(got[6:], want[6:]):
            assert g == (None if w is None else pytest.approx(w, rel=1e-12, abs=1e-12)), want[1]
    # only chat ran on spot (node b): all of its GPU-hours and cost
    spot = built.execute("select job, spot_gpu_hours, spot_cost_usd from job_costs order by job").fetchall()
    assert spot == [("alice", 0.0, 0.0), ("bert", 0.0, 0.0),
                    ("chat", pytest.approx(36 / 7), pytest.approx(3 / 7 * 6.75)), ("ranker", 0.0, 0.0)]


def test_accounting_identity(built):
    jobs, unallocated, no_data_unheld, no_data_held, idle = built.execute("""
        select (select sum(cost_usd) from job_costs),
               sum(cost_usd) filter (where state = 'unallocated'),
               sum(cost_usd) filter (where state = 'no_data' and pod is null),
               sum(cost_usd) filter (where state = 'no_data' and pod is not null),
               sum(cost_usd) filter (where state = 'allocated_idle')
        from gpu_usage""").fetchone()
    assets = built.execute("select sum(gpu_cost_usd) from asset_costs").fetchone()[0]
    assert jobs + unallocated + no_data_unheld + no_data_held == pytest.approx(assets, rel=1e-12)
    assert idle == pytest.approx(built.execute("select sum(idle_cost_usd) from job_costs").fetchone()[0])


def test_idle_threshold_parameter_changes_state(world_settings):
    low = replace(world_settings, idle_threshold_pct=1.0)
    with open_warehouse(low, create=True) as con:
        load_world(con)
        build(con, low)
        assert con.execute("select distinct state from gpu_usage where device_id = 'GPU-a1'").fetchall() == [
            ("active",)]


def test_resource_rates_split(settings):
    hourly = replace(settings, step_seconds=3600)  # default split: resource rates
    with open_warehouse(hourly, create=True) as con:
        load_world(con)
        build(con, hourly)
        share = con.execute("select gpu_share from asset_costs where node = 'a'").fetchone()[0]
    # g5.12xlarge: 48 vCPU x 0.031611 + 192 GiB x 0.004237 = 2.330832 of $5.672/h
    assert share == pytest.approx(1 - 2.330832 / 5.672, rel=1e-9)


def test_price_precedence(world_settings):
    on_demand = table([dict(kind="on_demand", region="us-east-1", instance_type="g5.12xlarge",
                            effective_at=h(0), usd_per_hour=6.0)])
    with open_warehouse(world_settings, create=True) as con:
        load_world(con)
        load_tables(con, "pricing-api", WINDOW, [("raw_prices", on_demand)])
        build(con, world_settings)
        assert con.execute("select price_source, usd_per_hour from asset_costs where node = 'a'").fetchone() == (
            "on_demand_list", 6.0)
    with_override = replace(world_settings, price_overrides={"g5.12xlarge": 4.0, "p4d.24xlarge": 1.0})
    with open_warehouse(with_override) as con:
        build(con, with_override, WINDOW)
        rows = con.execute("select node, price_source, usd_per_hour from asset_costs order by node").fetchall()
    # the override beats list prices, but a spot node keeps its spot history
    assert rows == [("a", "override", 4.0), ("b", "spot_history", 9.0)]


def test_unpriced_instance_type_is_refused(world_settings):
    odd = table([dict(cluster="c", node="x", valid_from=h(0), valid_to=h(1), instance_type="x9.mystery",
                      gpu_count=1)])
    with open_warehouse(world_settings, create=True) as con:
        load_tables(con, "other", WINDOW, [("raw_nodes", odd)])
        with pytest.raises(GpucostError, match=r"no price for node x \(instance type 'x9.mystery'\)"):
            build(con, world_settings)
        assert con.execute("select count(*) from gpu_usage").fetchone()[0] == 0
        assert con.execute("select count(*) from builds").fetchone()[0] == 0


def test_incremental_build_only_rebuilds_pending_days(world_settings):
    with open_warehouse(world_settings, create=True) as con:
        load_world(con)
        first = build(con, world_settings)
        assert first.window == Window(h(-24), h(24))  # the day before has a spot price load
        assert build(con, world_settings).window is None  # nothing new
        late_node = [
            ("raw_nodes", table([dict(cluster="c", node="c", valid_from=h(0), valid_to=h(24),
                                      instance_type="g5.xlarge", gpu_count=1)])),
            ("raw_gpu_devices", table([dict(cluster="c", node="c", valid_from=h(0), valid_to=h(24),
                                            device_id="GPU-c0", gpu_index=0, gpu_uuid="GPU-c0")])),
            ("raw_dcgm_samples", table(dcgm("GPU-c0", "c", range(24), gpu_util=0.0))),
        ]
        load_tables(con, "late", WINDOW, late_node)
        again = build(con, world_settings)
        assert again.window == WINDOW
        assert by_state(con)["unallocated"][0] == pytest.approx(26 + 24 / 7 + 24)


def billing_lines() -> pa.Table:
    def line(resource, start, end, unit, billed, effective, category="Usage", itype=None):
        return dict(charge_period_start=h(start), charge_period_end=h(end), resource_id=resource,
                    pricing_unit=unit, charge_category=category, billed_cost=billed, effective_cost=effective,
                    billing_currency="USD", instance_type=itype)
    return table([
        line("i-0aaa", 2, 3, "Hours", 5.672, 3.0, itype="g5.12xlarge"),
        line("i-0aaa", 3, 4, "Hours", 5.672, 3.0, itype="g5.12xlarge"),
        line("i-0aaa", 3, 4, "Hours", -0.5, -0.5, category="Credit"),
        line("i-0zzz", 0, 1, "Hours", 55.04, 50.0, itype="p5.48xlarge"),
        line("i-0web", 0, 1, "Hours", 0.1, 0.1, itype="m7i.large"),   # not a GPU type: ignored
        line("vol-123", 0, 24, "GB-Months", 9.0, 9.0),                 # storage: ignored
    ])


def test_billed_cost_wins_for_the_hours_it_covers(world_settings):
    with open_warehouse(world_settings, create=True) as con:
        load_world(con)
        load_tables(con, "bill.csv", WINDOW, [("raw_billing_line_items", billing_lines())])
        build(con, world_settings)
        rows = con.execute("""select price_source, hours, cost_usd from asset_costs where node = 'a'
                              order by price_source""").fetchall()
        assert rows == [("billing", 2.0, pytest.approx(5.5)), ("catalog_list", 22.0, pytest.approx(22 * 5.672))]
        hour3 = con.execute("select sum(cost_usd), min(price_source) from gpu_usage where node = 'a' and ts = ?",
                            [h(3)]).fetchone()
        assert hour3 == (pytest.approx(2.5 * 0.5), "billing")
        recon = con.execute("""select instance_id, node, billed_hours, billed_cost_usd, effective_cost_usd,
                                      computed_hours, computed_cost_usd, difference_usd, explanation
                               from reconciliation order by instance_id nulls last""").fetchall()
    assert recon == [
        ("i-0aaa", "a", 2.0, pytest.approx(10.844), pytest.approx(5.5), 24.0, pytest.approx(5.5 + 22 * 5.672),
         pytest.approx(-22 * 5.672), "hours differ"),
        ("i-0zzz", None, 1.0, pytest.approx(55.04), pytest.approx(50.0), None, None, pytest.approx(50.0),
         "billed, node not seen in telemetry"),
        (None, "b", None, None, None, 12.0, pytest.approx(108.0), pytest.approx(-108.0), "node has no instance id"),
    ]


def test_a_schema_migration_after_the_last_build_rebuilds_everything(world_settings):
    from gpucost.warehouse import MIGRATIONS_TABLE
    with open_warehouse(world_settings, create=True) as con:
        load_world(con)
        assert build(con, world_settings).window == Window(h(-24), h(24))
        assert build(con, world_settings).window is None
        con.execute(f"update {MIGRATIONS_TABLE} set applied_at = now()::timestamp + interval 1 minute "
                    "where version = 1")  # as if a newer gpucost had just added a mart
        assert build(con, world_settings).window == Window(h(-24), h(24))
