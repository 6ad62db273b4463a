"""Dashboard: queries, rollup-based page data, figure builders, filters, chargeback, /metrics,
auth, /healthz and the overview page in a real browser, on a hand-made world.

The fixture world (step = 1 h, so one gpu_usage row = 1 GPU-hour), 2026-01-05 00:00-04:00 UTC:

    GPU      node    $/GPU-h  00:00              01:00              02:00              03:00
    gpu-a0   node-a  30       active 80 % train  active 80 % train  active 80 % train  active 80 % train
    gpu-a1   node-a  30       active 30 % nb     idle 0 % nb        idle 0 % nb        idle 0 % nb
    gpu-b0   node-b  10       unallocated        unallocated        no_data            active 100 % infer

    jobs: train (ns ml, team ml), nb = notebook (ns research, team research),
          infer (ns serving, team NULL -> shown as its namespace "serving")

Expected totals (by hand):

    quantity                          value
    gpu_usage rows                    12
    spend USD                         120 + 120 + 40 = 280
    GPU-hours                         12
    active USD                        120 + 30 + 10 = 160
    allocated idle USD                90
    unallocated USD                   20
    no data USD                       10
    idle + unallocated USD / share    110 / 110/280 = 0.392857 ("39.3 %")
    utilisation %                     (4x80 + 30 + 0x3 + 100) / (4 + 4 + 1) = 450/9 = 50.0
    spend in [01:00, 03:00)           70 + 70 = 140
    per hour (active/idle/unalloc/no data)  00: 60/0/10/0  01: 30/30/10/0  02: 30/30/0/10  03: 40/30/0/0
    per team (cost / idle)            ml 120 / 0, research 120 / 90, serving 10 / 0
    asset_costs gpu_cost_usd          node-a 240 + node-b 40 = 280 (= spend, accounting identity)

    usage_hourly / int_job_daily      built from the rows above by their models (one row per GPU-hour)
    weekly (week of 2026-01-05)       4 hours with data = 1/6 day -> 280 x 6 = $1,680 per day
    jobs (int_job_daily)              train 120 / 0 idle / util 80; notebook 120 / 90 / 7.5; infer 10 / 0 / 100
    teams, idle kept separate         ml 120, research 120, serving 10, unallocated 20, no telemetry unheld 10
    teams, idle shared back           pool 30 over allocated 250: ml 120 + 14.4, research 120 + 14.4,
                                      serving 10 + 1.2 (sum 280)
    /metrics, latest complete hour    03:00: active 2, allocated_idle 1, unallocated 0, no_data 0 GPUs;
                                      $70 per hour, idle $30, util of held GPUs (80+0+100)/3 = 60 %
    raw_prices (spot g5.xlarge 1a)    $0.40 from 2026-01-04 12:00, $0.45 from 02:00 -> shown from 00:00
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from werkzeug.serving import make_server

from gpucost.build import load_models
from gpucost.dashboard import chargeback, figures, figures_costs, figures_usage, metrics, queries
from gpucost.dashboard.app import create_app
from gpucost.dashboard.auth import DashboardAuth
from gpucost.dashboard.data import jobs as jobs_data
from gpucost.dashboard.data import overview as overview_data
from gpucost.dashboard.data import prices as prices_data
from gpucost.dashboard.data import teams as teams_data
from gpucost.dashboard.data import utilisation as util_data
from gpucost.dashboard.data.common import resolve_window
from gpucost.dashboard.filters import Filters, from_controls, parse_query
from gpucost.errors import GpucostError
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse
from conftest import insert_gpu_usage

T0 = datetime(2026, 1, 5)
H = [T0 + timedelta(hours=i) for i in range(4)]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

USAGE_COLUMNS = ("ts, cluster, node, instance_type, capacity_type, gpu_uuid, gpu_index, device_id, "
                 "gpu_model, namespace, pod, job, team, state, util_pct, mem_used_bytes, "
                 "mem_total_bytes, power_w, gpu_hours, cost_usd, price_source")


def _usage_rows() -> list[tuple]:
    a = ("node-a", "p4d.24xlarge", "on_demand")
    b = ("node-b", "g5.xlarge", "spot")
    train = ("ml", "train-0", "train", "ml")
    nb = ("research", "nb-0", "notebook", "research")
    infer = ("serving", "infer-0", "infer", None)
    free = (None, None, None, None)
    # (hour, node info, gpu, index, holder, state, util, $)
    cells = [
        *[(h, a, "gpu-a0", 0, train, "active", 80.0, 30.0) for h in range(4)],
        (0, a, "gpu-a1", 1, nb, "active", 30.0, 30.0),
        *[(h, a, "gpu-a1", 1, nb, "allocated_idle", 0.0, 30.0) for h in (1, 2, 3)],
        (0, b, "gpu-b0", 0, free, "unallocated", 0.0, 10.0),
        (1, b, "gpu-b0", 0, free, "unallocated", 0.0, 10.0),
        (2, b, "gpu-b0", 0, free, "no_data", None, 10.0),
        (3, b, "gpu-b0", 0, infer, "active", 100.0, 10.0),
    ]
    return [(H[h], "c1", *node, gpu, idx, gpu, "NVIDIA A100-SXM4-40GB", *holder, state, util,
             None, 40 * 2**30, None, 1.0, usd, "test")
            for h, node, gpu, idx, holder, state, util, usd in cells]


JOB_COLUMNS = ("cluster, namespace, job, team, gpu_model, first_seen_at, last_seen_at, gpus_max, "
               "gpu_hours, active_gpu_hours, idle_gpu_hours, no_data_gpu_hours, util_avg_pct, "
               "cost_usd, idle_cost_usd, no_data_cost_usd")
END = H[3] + timedelta(hours=1)
JOB_ROWS = [
    ("c1", "ml", "train", "ml", "A100", H[0], END, 1, 4, 4, 0, 0, 80.0, 120.0, 0.0, 0.0),
    ("c1", "research", "notebook", "research", "A100", H[0], END, 1, 4, 1, 3, 0, 7.5, 120.0, 90.0, 0.0),
    ("c1", "serving", "infer", None, "A10G", H[3], END, 1, 1, 1, 0, 0, 100.0, 10.0, 0.0, 0.0),
]

ASSET_COLUMNS = ("window_start, window_end, cluster, node, instance_type, capacity_type, region, "
                 "zone, price_source, hours, usd_per_hour, gpu_count, gpu_share, cost_usd, gpu_cost_usd")
ASSET_ROWS = [
    (T0, T0 + timedelta(days=1), "c1", "node-a", "p4d.24xlarge", "on_demand", "us-east-1", "us-east-1a", "test", 4.0, 60.0, 2, 1.0, 240.0, 240.0),
    (T0, T0 + timedelta(days=1), "c1", "node-b", "g5.xlarge", "spot", "us-east-1", "us-east-1a", "test", 4.0, 10.0, 1, 1.0, 40.0, 40.0),
]


PRICE_ROWS = [
    ("spot", "us-east-1", "us-east-1a", "g5.xlarge", T0 - timedelta(hours=12), 0.40, "test"),
    ("spot", "us-east-1", "us-east-1a", "g5.xlarge", H[2], 0.45, "test"),
    ("spot", "us-east-1", "us-east-1a", "g5.xlarge", END + timedelta(days=1), 0.99, "test"),  # after the window
]


def _insert(con, table: str, columns: str, rows: list[tuple]) -> None:
    marks = ", ".join(["?"] * len(columns.split(",")))
    con.executemany(f"insert into {table} ({columns}) values ({marks})", rows)


def run_models(con, settings: Settings, names: tuple[str, ...], start: datetime, end: datetime) -> None:
    """Run packaged models for one window the way `gpucost build` materialises them."""
    models = {m.name: m for m in load_models()}
    params = {"window_start": start, "window_end": end, "step_seconds": settings.step_seconds}
    for name in names:
        model = models[name]
        con.execute(f"insert into {name} by name {model.sql}", {k: params[k] for k in model.params})


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Settings:
    settings = Settings(db=tmp_path_factory.mktemp("world") / "w.duckdb", step_seconds=3600)
    with open_warehouse(settings, create=True) as con:
        insert_gpu_usage(con, USAGE_COLUMNS, _usage_rows())
        _insert(con, "job_costs", JOB_COLUMNS, JOB_ROWS)
        _insert(con, "asset_costs", ASSET_COLUMNS, ASSET_ROWS)
        _insert(con, "raw_prices", "kind, region, zone, instance_type, effective_at, usd_per_hour, source",
                PRICE_ROWS)
        run_models(con, settings, ("usage_hourly", "int_job_daily"), T0, T0 + timedelta(days=1))
    return settings


@pytest.fixture(scope="module")
def empty_world(tmp_path_factory) -> Settings:
    settings = Settings(db=tmp_path_factory.mktemp("empty") / "w.duckdb")
    with open_warehouse(settings, create=True):
        pass
    return settings


@pytest.fixture()
def ro(world):
    with open_warehouse(world, read_only=True) as con:
        yield con


# ---------------------------------------------------------------- queries

def test_headline_matches_the_hand_computed_totals(ro):
    row = queries.headline(ro).iloc[0]
    assert row["gpu_usage_rows"] == 12
    assert row["spend_usd"] == pytest.approx(280.0)
    assert row["gpu_hours"] == pytest.approx(12.0)
    assert row["util_pct"] == pytest.approx(50.0)
    assert row["active_usd"] == pytest.approx(160.0)
    assert row["allocated_idle_usd"] == pytest.approx(90.0)
    assert row["unallocated_usd"] == pytest.approx(20.0)
    assert row["no_data_usd"] == pytest.approx(10.0)
    assert row["idle_unallocated_usd"] == pytest.approx(110.0)
    assert row["idle_unallocated_share"] == pytest.approx(110.0 / 280.0)
    assert row["first_ts"] == pd.Timestamp("2026-01-05 00:00")
    assert row["last_ts"] == pd.Timestamp("2026-01-05 03:00")


def test_headline_respects_a_half_open_window(ro):
    row = queries.headline(ro, start=H[1], end=H[3]).iloc[0]
    assert row["spend_usd"] == pytest.approx(140.0)
    assert row["gpu_usage_rows"] == 6


def test_cost_by_state_lists_all_states_in_order(ro):
    df = queries.cost_by_state(ro)
    assert list(df["state"]) == ["active", "allocated_idle", "unallocated", "no_data"]
    assert list(df["cost_usd"]) == pytest.approx([160.0, 90.0, 20.0, 10.0])
    assert list(df["share"]) == pytest.approx([160 / 280, 90 / 280, 20 / 280, 10 / 280])
    # A window without unallocated or no-data rows still lists them, at 0.
    late = queries.cost_by_state(ro, start=H[3])
    assert list(late["cost_usd"]) == pytest.approx([40.0, 30.0, 0.0, 0.0])


def test_cost_by_state_over_time_by_hour(ro):
    df = queries.cost_by_state_over_time(ro, "hour")
    got = {(ts.hour, state): usd for ts, state, usd in df[["bucket_start", "state", "cost_usd"]].itertuples(index=False)}
    assert got == pytest.approx({
        (0, "active"): 60.0, (0, "unallocated"): 10.0,
        (1, "active"): 30.0, (1, "allocated_idle"): 30.0, (1, "unallocated"): 10.0,
        (2, "active"): 30.0, (2, "allocated_idle"): 30.0, (2, "no_data"): 10.0,
        (3, "active"): 40.0, (3, "allocated_idle"): 30.0,
    })
    day = queries.cost_by_state_over_time(ro, "day")
    assert set(day["bucket_start"]) == {pd.Timestamp("2026-01-05")}
    assert day["cost_usd"].sum() == pytest.approx(280.0)
    with pytest.raises(ValueError):
        queries.cost_by_state_over_time(ro, "minute; drop table gpu_usage")


def test_choose_bucket():
    assert queries.choose_bucket(H[0], H[3]) == "hour"
    assert queries.choose_bucket(T0, T0 + timedelta(days=3)) == "hour"
    assert queries.choose_bucket(T0, T0 + timedelta(days=3, hours=1)) == "day"
    assert queries.choose_bucket(None, None) == "hour"


def test_cost_by_team_from_job_costs(ro):
    df = queries.cost_by_team(ro)
    assert list(df["team"]) == ["ml", "research", "serving"]
    assert list(df["cost_usd"]) == pytest.approx([120.0, 120.0, 10.0])
    assert list(df["idle_cost_usd"]) == pytest.approx([0.0, 90.0, 0.0])
    assert list(df["active_cost_usd"]) == pytest.approx([120.0, 30.0, 10.0])
    assert list(df["jobs"]) == [1, 1, 1]


def test_data_window_and_load_overview(world, ro):
    w = queries.data_window(ro).iloc[0]
    assert (w["first_ts"], w["last_ts"], w["gpu_usage_rows"]) == (
        pd.Timestamp("2026-01-05 00:00"), pd.Timestamp("2026-01-05 03:00"), 12)
    data = queries.load_overview(world)
    assert not data.empty and data.bucket == "hour"
    assert data.headline["spend_usd"].iloc[0] == pytest.approx(280.0)


def test_empty_warehouse(empty_world):
    data = queries.load_overview(empty_world)
    assert data.empty
    row = data.headline.iloc[0]
    assert row["spend_usd"] == 0 and math.isnan(row["util_pct"]) and pd.isna(row["first_ts"])
    assert data.over_time.empty and data.by_team.empty


# ---------------------------------------------------------------- figure builders

def test_spend_by_state_over_time_figure():
    df = pd.DataFrame({
        "bucket_start": pd.to_datetime(["2026-01-05 00:00", "2026-01-05 00:00", "2026-01-05 01:00"]),
        "state": ["active", "unallocated", "no_data"],
        "cost_usd": [60.0, 10.0, 5.0],
    })
    fig = figures.spend_by_state_over_time(df, "hour")
    assert [t.name for t in fig.data] == ["Active", "Allocated, idle", "Unallocated", "No data"]
    assert [t.marker.color for t in fig.data] == [figures.STATE_COLOURS[s] for s in figures.STATE_ORDER]
    assert [list(t.y) for t in fig.data] == [[60.0, 0.0], [0.0, 0.0], [10.0, 0.0], [0.0, 5.0]]
    assert fig.layout.barmode == "stack"
    assert fig.layout.yaxis.title.text == "Cost (USD per hour)"
    assert "UTC" in fig.layout.xaxis.title.text
    day = figures.spend_by_state_over_time(df, "day")
    assert day.layout.yaxis.title.text == "Cost (USD per day)"
    empty = figures.spend_by_state_over_time(df.iloc[0:0])
    assert not empty.data and empty.layout.annotations[0].text == "No GPU usage in this window"


def test_cost_by_team_figure():
    df = pd.DataFrame({"team": ["ml", "research", "serving"], "cost_usd": [120.0, 100.0, 10.0],
                       "idle_cost_usd": [0.0, 90.0, 0.0]})
    fig = figures.cost_by_team(df)
    assert [t.name for t in fig.data] == ["Active", "Allocated, idle"]
    assert all(t.orientation == "h" for t in fig.data)
    # Largest at the top: plotly draws the first category at the bottom.
    assert list(fig.data[0].y) == ["serving", "research", "ml"]
    assert list(fig.data[0].x) == pytest.approx([10.0, 10.0, 120.0])
    assert list(fig.data[1].x) == pytest.approx([0.0, 90.0, 0.0])
    assert fig.layout.xaxis.title.text == "Cost (USD)"


def test_cost_by_team_lumps_the_tail():
    df = pd.DataFrame({"team": [f"t{i}" for i in range(5)], "cost_usd": [50.0, 40.0, 30.0, 20.0, 10.0],
                       "idle_cost_usd": [0.0, 0.0, 10.0, 5.0, 5.0]})
    fig = figures.cost_by_team(df, max_teams=3)
    assert list(fig.data[0].y) == ["Other (3 teams)", "t1", "t0"]
    assert list(fig.data[1].x) == pytest.approx([20.0, 0.0, 0.0])


def test_spend_by_state_figure():
    df = pd.DataFrame({"state": ["active", "unallocated"], "cost_usd": [75.0, 25.0]})
    fig = figures.spend_by_state(df)
    assert [t.name for t in fig.data] == ["Active", "Allocated, idle", "Unallocated", "No data"]
    assert [t.x[0] for t in fig.data] == [75.0, 0.0, 25.0, 0.0]


# ---------------------------------------------------------------- rollup and page data

ALL = Filters()


def test_usage_hourly_rolls_up_gpu_usage_exactly(ro):
    got = ro.execute("""select count(*), sum(steps), sum(cost_usd), sum(gpu_hours), sum(active_cost_usd),
                               sum(idle_cost_usd), sum(unallocated_cost_usd), sum(no_data_cost_usd)
                        from usage_hourly""").fetchone()
    assert got == pytest.approx((12, 12, 280.0, 12.0, 160.0, 90.0, 20.0, 10.0))


def test_overview_data_from_the_rollup(ro):
    d = overview_data.load(ro, ALL)
    cur = d.period("current")
    assert d.period("previous") is None and not d.empty
    assert (d.window.start, d.window.end) == (T0, END)
    assert cur["spend_usd"] == pytest.approx(280.0)
    assert cur["gpu_hours"] == pytest.approx(12.0)
    assert cur["util_pct"] == pytest.approx(50.0)
    assert cur["idle_unallocated_usd"] == pytest.approx(110.0)
    assert cur["idle_unallocated_share"] == pytest.approx(110.0 / 280.0)
    assert cur["allocated_gpu_hours"] == pytest.approx(9.0)       # a0 4 + a1 4 + b0 1 held
    assert d.bucket == "hour"
    by_hour = d.over_time.pivot_table(index="bucket_start", columns="state", values="cost_usd")
    assert list(by_hour["active"]) == pytest.approx([60.0, 30.0, 30.0, 40.0])
    assert list(d.over_time.groupby("bucket_start")["gpus"].sum()) == pytest.approx([3.0] * 4)
    week = d.weekly.iloc[0]
    assert (len(d.weekly), week["week_start"]) == (1, pd.Timestamp(T0))
    assert week["spend_usd_per_day"] == pytest.approx(280.0 * 6)
    assert list(d.by_team["team"]) == ["ml", "research", "serving"]
    assert list(d.by_team["cost_usd"]) == pytest.approx([120.0, 120.0, 10.0])
    assert list(d.by_team["idle_cost_usd"]) == pytest.approx([0.0, 90.0, 0.0])


def test_overview_filters_and_previous_period(ro):
    f = parse_query("?team=research")
    cur = overview_data.load(ro, f).period("current")
    assert cur["spend_usd"] == pytest.approx(120.0)       # held GPUs only: no unallocated
    assert cur["util_pct"] == pytest.approx(7.5)
    f = parse_query("?model=NVIDIA+A100-SXM4-40GB&cluster=c1&ns=ml&ns=serving")
    assert overview_data.load(ro, f).period("current")["spend_usd"] == pytest.approx(130.0)
    # A one-day window starting the day after: the data's day is the previous period.
    later = overview_data.load(ro, parse_query("?from=2026-01-06&to=2026-01-06"))
    assert later.empty and later.period("previous")["spend_usd"] == pytest.approx(280.0)


def test_utilisation_data(ro):
    window = resolve_window(ro, ALL)
    devices = util_data.devices(ro, ALL, window)
    assert list(devices["device_id"]) == ["gpu-a0", "gpu-a1", "gpu-b0"]
    assert list(devices["util_pct"]) == pytest.approx([80.0, 7.5, 100.0 / 3])
    assert list(devices["idle_cost_usd"]) == pytest.approx([0.0, 90.0, 0.0])
    heat = util_data.heatmap(ro, ALL, window, devices)
    assert (heat.level, heat.bucket_hours, heat.total_rows) == ("gpu", 1, 3)
    b0 = heat.cells[heat.cells["device_id"] == "gpu-b0"].set_index("bucket_start")
    assert math.isnan(b0.loc[H[2], "util_pct"]) and b0.loc[H[2], "no_data_share"] == 1.0
    assert b0.loc[H[3], "util_pct"] == pytest.approx(100.0)
    nodes = util_data.heatmap(ro, ALL, window, devices, max_rows=1)
    # node-b (33.3 %) is less utilised than node-a (350 / 8 = 43.75 %)
    assert (nodes.level, nodes.total_rows, list(nodes.cells["node"].unique())) == ("node", 2, ["node-b"])
    series, resolution = util_data.device_series(ro, "c1", "gpu-a1", window)
    assert resolution == "step" and list(series["util_pct"]) == pytest.approx([30.0, 0.0, 0.0, 0.0])
    assert list(series["state"]) == ["active", "allocated_idle", "allocated_idle", "allocated_idle"]
    # above 48 h: hourly means from usage_hourly
    hourly, resolution = util_data.device_series(
        ro, "c1", "gpu-a1", resolve_window(ro, parse_query("?from=2026-01-04&to=2026-01-06")))
    assert resolution == "hour" and list(hourly["util_pct"]) == pytest.approx([30.0, 0.0, 0.0, 0.0])


def test_jobs_data_from_int_job_daily(ro):
    df = jobs_data.jobs(ro, ALL, resolve_window(ro, ALL), step_seconds=3600).set_index("job")
    assert list(df.index) == ["notebook", "train", "infer"] or list(df.index) == ["train", "notebook", "infer"]
    assert df.loc["train", "cost_usd"] == pytest.approx(120.0)
    assert df.loc["notebook", "idle_cost_usd"] == pytest.approx(90.0)
    assert df.loc["notebook", "util_avg_pct"] == pytest.approx(7.5)
    assert df.loc["infer", "team"] == "serving"          # no team label: the namespace
    assert df.loc["infer", "last_seen_at"] == pd.Timestamp(END)
    assert df.loc["train", "mem_peak_bytes"] is None or pd.isna(df.loc["train", "mem_peak_bytes"])
    only = jobs_data.jobs(ro, parse_query("?team=research"), resolve_window(ro, ALL), 3600)
    assert list(only["job"]) == ["notebook"]


def test_teams_chargeback_under_both_policies(ro):
    window = resolve_window(ro, ALL)
    daily, pool = teams_data.team_daily(ro, ALL, window), teams_data.pool_daily(ro, ALL, window)
    sep = chargeback.chargeback(daily, pool, "separate").set_index("team")
    assert sep["charge_usd"].to_dict() == pytest.approx({
        "ml": 120.0, "research": 120.0, "serving": 10.0,
        chargeback.PLATFORM_ROWS["unallocated"]: 20.0, chargeback.PLATFORM_ROWS["no_data"]: 10.0})
    shared = chargeback.chargeback(daily, pool, "shared").set_index("team")
    assert shared["charge_usd"].to_dict() == pytest.approx({"ml": 134.4, "research": 134.4, "serving": 11.2})
    assert shared["charge_usd"].sum() == pytest.approx(280.0) == sep["charge_usd"].sum()
    # A team filter keeps each team's share of the whole pool.
    f = parse_query("?team=ml")
    ml = chargeback.chargeback(teams_data.team_daily(ro, f, window), teams_data.pool_daily(ro, f, window),
                               "shared", include_platform_rows=False)
    assert ml["charge_usd"].tolist() == pytest.approx([134.4])
    with pytest.raises(ValueError):
        chargeback.chargeback(daily, pool, "everyone-pays")


def test_chargeback_keeps_a_pool_nobody_can_absorb():
    daily = pd.DataFrame({"day": [T0], "team": ["a"], "jobs": [1], "active_usd": [10.0], "idle_usd": [0.0],
                          "held_no_data_usd": [0.0], "gpu_hours": [1.0], "util_gpu_hours": [50.0],
                          "util_observed_gpu_hours": [1.0]})
    pool = pd.DataFrame({"day": [T0, T0 + timedelta(days=1)], "unallocated_usd": [5.0, 7.0],
                         "unheld_no_data_usd": [0.0, 1.0], "allocated_all_usd": [10.0, 0.0]})
    out = chargeback.chargeback(daily, pool, "shared").set_index("kind")
    assert out.loc["team", "charge_usd"] == pytest.approx(15.0)
    assert out.loc["unabsorbed", "charge_usd"] == pytest.approx(8.0)


def test_prices_data(ro):
    window = resolve_window(ro, ALL)
    types = prices_data.instance_types(ro, ALL)
    assert list(types["instance_type"]) == ["g5.xlarge", "p4d.24xlarge"]
    hist = prices_data.history(ro, ["g5.xlarge"], window)
    assert list(hist["effective_at"]) == [pd.Timestamp(T0), pd.Timestamp(H[2])]
    assert list(hist["usd_per_hour"]) == pytest.approx([0.40, 0.45])
    od = prices_data.on_demand_reference(ro, ["g5.xlarge", "no-such-type"], window)
    assert list(od["instance_type"]) == ["g5.xlarge"] and list(od["source"]) == ["catalog_list"]
    mix = prices_data.source_mix(ro, ALL, list(types["instance_type"]), window)
    assert mix["gpu_cost_usd"].sum() == pytest.approx(280.0) and set(mix["price_source"]) == {"test"}
    eff = prices_data.effective_prices(ro, ALL, ["g5.xlarge"], window)
    assert eff[["capacity_type", "usd_per_hour"]].values.tolist() == [["spot", 10.0]]


@pytest.mark.parametrize("search", [
    "?team=%27+or+1%3D1+--", "?cluster=%3B+drop+table+job_costs", "?model=x%27%29%3B+drop+table+usage_hourly%3B--",
    "?ns=%22%3B+select+1%3B", "?team=research%27+union+select+%2A+from+job_costs+--",
])
def test_sql_in_filter_values_matches_nothing_and_changes_nothing(ro, search):
    f = parse_query(search)
    window = resolve_window(ro, f)
    assert overview_data.load(ro, f).empty
    assert util_data.devices(ro, f, window).empty
    assert jobs_data.jobs(ro, f, window, 3600).empty
    assert ro.execute("select count(*) from job_costs").fetchone()[0] == 3
    assert ro.execute("select count(*) from usage_hourly").fetchone()[0] == 12


# ---------------------------------------------------------------- grid models (pure)

def test_grid_filter_and_sort_models():
    from gpucost.dashboard.gridquery import apply_filter_model, apply_sort_model, sort_model_from_column_state
    df = pd.DataFrame({"job": ["train", "notebook", "infer", None], "cost_usd": [120.0, 120.0, 10.0, None],
                       "team": ["ml", "research", "serving", "x"]})
    cols = ["job", "cost_usd", "team"]
    f = lambda model: list(apply_filter_model(df, model, cols)["team"])  # noqa: E731
    assert f({"job": {"filterType": "text", "type": "contains", "filter": "IN"}}) == ["ml", "serving"]
    assert f({"job": {"filterType": "text", "type": "blank"}}) == ["x"]
    assert f({"cost_usd": {"filterType": "number", "type": "greaterThan", "filter": 50}}) == ["ml", "research"]
    assert f({"cost_usd": {"filterType": "number", "type": "inRange", "filter": 5, "filterTo": 10}}) == ["serving"]
    assert f({"cost_usd": {"filterType": "number", "operator": "OR", "conditions": [
        {"type": "lessThan", "filter": 20}, {"type": "equals", "filter": 120}]}}) == ["ml", "research", "serving"]
    assert f({"job": {"filterType": "text", "type": "startsWith", "filter": "t"},
              "team": {"filterType": "text", "type": "equals", "filter": "ML"}}) == ["ml"]
    # Unknown columns, types and junk are ignored, never evaluated.
    assert f({"__class__": {"type": "contains", "filter": "x"}, "job": {"filterType": "text", "type": "eval",
                                                                         "filter": "1"}, "team": "junk"}) \
        == ["ml", "research", "serving", "x"]
    s = apply_sort_model(df, [{"colId": "cost_usd", "sort": "asc"}, {"colId": "team", "sort": "desc"}], cols)
    assert list(s["team"]) == ["serving", "research", "ml", "x"]
    assert sort_model_from_column_state([{"colId": "team", "sort": "desc", "sortIndex": 1},
                                         {"colId": "cost_usd", "sort": "asc", "sortIndex": 0},
                                         {"colId": "job", "sort": None}]) == [
        {"colId": "cost_usd", "sort": "asc"}, {"colId": "team", "sort": "desc"}]


def test_result_cache_follows_the_snapshot(world, tmp_path):
    from gpucost.dashboard.cache import ResultCache
    cache, calls = ResultCache(2), []
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache.get_or_compute(world, "k", compute) == 1
    assert cache.get_or_compute(world, "k", compute) == 1          # cached
    other = Settings(db=tmp_path / "other.duckdb")
    assert cache.get_or_compute(other, "k", compute) == 2          # another warehouse file
    assert ResultCache(0).get_or_compute(world, "k", compute) == 3  # disabled


# ---------------------------------------------------------------- filters (pure)

def test_filters_round_trip_through_the_url():
    f = parse_query("?from=2026-01-05&to=2026-01-11&cluster=c1&team=ml&team=research&ns=ml&model=NVIDIA+L4")
    assert (f.start, f.end) == (T0, datetime(2026, 1, 12))
    assert f.teams == ("ml", "research") and f.gpu_models == ("NVIDIA L4",) and not f.notes
    assert parse_query(f.to_query()) == f
    assert from_controls("2026-01-05", "2026-01-11T00:00:00", ["c1"], ["ml", "research"], ["ml"],
                         ["NVIDIA L4"]) == f
    assert Filters().to_query() == "" and parse_query("") == Filters()


def test_filters_drop_bad_values_with_a_note():
    f = parse_query("?from=%3B+drop+table+job_costs&to=2026-99-01&team=" + "x" * 300 + "&team=ok")
    assert (f.start, f.end, f.teams) == (None, None, ("ok",))
    assert len(f.notes) == 3 and "not a date" in f.notes[0]
    swapped = parse_query("?from=2026-01-10&to=2026-01-05")
    assert (swapped.start_day.day, swapped.end_day.day) == (5, 10) and swapped.notes


# ---------------------------------------------------------------- new figure builders

def test_weekly_and_state_figures(ro):
    d = overview_data.load(ro, ALL)
    fig = figures_usage.weekly_spend(d.weekly)
    assert [t.name for t in fig.data[:4]] == ["Active", "Allocated, idle", "Unallocated", "No data"]
    assert sum(t.y[0] for t in fig.data[:4]) == pytest.approx(1680.0)
    assert fig.layout.yaxis.title.text == "Cost (USD per day)"
    states = figures_usage.gpus_by_state_over_time(d.over_time, 1)
    assert states.layout.yaxis.title.text == "GPUs (mean count)"
    assert [t.stackgroup for t in states.data] == ["gpus"] * 4


def test_heatmap_and_series_figures(ro):
    window = resolve_window(ro, ALL)
    heat = util_data.heatmap(ro, ALL, window, util_data.devices(ro, ALL, window))
    fig = figures_usage.util_heatmap(heat.cells, heat.level, heat.bucket_hours, heat.total_rows)
    assert list(fig.data[0].y) == ["node-a · GPU 0", "node-a · GPU 1", "node-b · GPU 0"]
    assert fig.data[0].colorbar.title.text == "Util (%)"
    series, resolution = util_data.device_series(ro, "c1", "gpu-a0", window)
    sfig = figures_usage.gpu_series(series, "node-a · GPU 0", resolution)
    assert [sfig.layout[f"yaxis{i}"].title.text for i in ("", "2", "3")] == ["Util (%)", "Memory (GiB)", "Power (W)"]
    assert figures_usage.util_heatmap(heat.cells.iloc[0:0], "gpu", 1, 0).layout.annotations[0].text


def test_cost_figures(ro):
    window = resolve_window(ro, ALL)
    table = chargeback.chargeback(teams_data.team_daily(ro, ALL, window),
                                  teams_data.pool_daily(ro, ALL, window), "separate")
    fig = figures_costs.team_chargeback(table, "separate")
    assert list(fig.data[0].y)[-1] == "ml" or list(fig.data[0].y)[-1] == "research"  # most charged on top
    assert fig.layout.xaxis.title.text == "Cost (USD)"
    hist = prices_data.history(ro, ["g5.xlarge"], window)
    od = prices_data.on_demand_reference(ro, ["g5.xlarge"], window)
    pfig = figures_costs.price_history(hist, od, end=window.end)
    assert {t.name for t in pfig.data} == {"Spot us-east-1a", "On-demand (list)"}
    assert pfig.layout.yaxis.title.text == "USD per hour"
    mix = figures_costs.price_source_mix(prices_data.source_mix(ro, ALL, ["g5.xlarge", "p4d.24xlarge"], window))
    assert mix.layout.yaxis.title.text == "GPU cost (USD per day)"


# ---------------------------------------------------------------- /metrics and auth

def test_metrics_latest_complete_hour(world, ro):
    hours = metrics.latest_complete_hours(ro, step_seconds=3600)
    assert [(h.cluster, h.hour) for h in hours] == [("c1", H[3])]
    text = create_app(world).server.test_client().get("/metrics").get_data(as_text=True)
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert float(samples['gpucost_gpus{cluster="c1",state="active"}']) == pytest.approx(2.0)
    assert float(samples['gpucost_gpus{cluster="c1",state="allocated_idle"}']) == pytest.approx(1.0)
    assert float(samples['gpucost_gpus{cluster="c1",state="unallocated"}']) == 0.0
    assert float(samples['gpucost_idle_cost_usd_per_hour{cluster="c1"}']) == pytest.approx(30.0)
    assert float(samples['gpucost_unallocated_cost_usd_per_hour{cluster="c1"}']) == 0.0
    assert float(samples['gpucost_cost_usd_per_hour{cluster="c1"}']) == pytest.approx(70.0)
    assert float(samples['gpucost_no_data_share{cluster="c1"}']) == 0.0
    assert float(samples['gpucost_allocated_util_pct{cluster="c1"}']) == pytest.approx(60.0)
    assert float(samples['gpucost_hour_start_timestamp_seconds{cluster="c1"}']) == H[3].timestamp() - \
        (datetime.fromtimestamp(0) - datetime(1970, 1, 1)).total_seconds()
    assert samples["gpucost_warehouse_up"] == "1"


def test_metrics_when_the_warehouse_is_missing(tmp_path):
    resp = create_app(Settings(db=tmp_path / "absent.duckdb")).server.test_client().get("/metrics")
    assert resp.status_code == 200 and "gpucost_warehouse_up 0" in resp.get_data(as_text=True)
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")


def test_basic_auth(world):
    import base64
    client = create_app(world, auth=DashboardAuth(username="ops", password="s3cret")).server.test_client()
    creds = lambda u, p: {"Authorization": "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode()}  # noqa: E731
    assert client.get("/").status_code == 401
    assert client.get("/", headers=creds("ops", "wrong")).status_code == 401
    assert client.get("/metrics", headers=creds("ops", "s3cret")).status_code == 200
    assert client.get("/", headers=creds("ops", "s3cret")).status_code == 200
    assert client.get("/_dash-layout").status_code == 401
    assert client.get("/healthz").status_code == 200            # probes need no credentials
    assert 'Basic realm="gpucost"' in client.get("/").headers["WWW-Authenticate"]


def test_trusted_header_auth_and_settings(world):
    client = create_app(world, auth=DashboardAuth(user_header="X-Forwarded-User")).server.test_client()
    assert client.get("/").status_code == 403
    assert client.get("/", headers={"X-Forwarded-User": ""}).status_code == 403
    assert client.get("/", headers={"X-Forwarded-User": "alice"}).status_code == 200
    env = {"GPUCOST_DASHBOARD_USER": "ops", "GPUCOST_DASHBOARD_PASSWORD": "pw"}
    assert DashboardAuth.from_env(env) == DashboardAuth(username="ops", password="pw")
    assert DashboardAuth.from_env({}, user_header="X-Forwarded-User").mode == "header"
    assert DashboardAuth.from_env({}) is None
    with pytest.raises(GpucostError):
        DashboardAuth.from_env({"GPUCOST_DASHBOARD_USER": "ops"})   # a user without a password


# ---------------------------------------------------------------- app

def test_healthz(world, tmp_path):
    client = create_app(world).server.test_client()
    resp = client.get("/healthz")
    assert (resp.status_code, resp.get_data(as_text=True)) == (200, "ok")
    missing = create_app(Settings(db=tmp_path / "absent.duckdb")).server.test_client().get("/healthz")
    assert missing.status_code == 503
    assert "warehouse not found" in missing.get_data(as_text=True)


class _Server:
    """The app's Flask server on a free loopback port, in a background thread."""

    def __init__(self, settings: Settings):
        self.httpd = make_server("127.0.0.1", 0, create_app(settings).server, threaded=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "_Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.thread.join(timeout=5)




@pytest.fixture(scope="module")
def context(browser):
    """One browser context per module: its pages share the HTTP cache (plotly.js is 4 MB)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    yield ctx
    ctx.close()


def _open(context, url: str):
    """A new page at ``url`` and the list its console errors, page errors and HTTP >= 400 go to."""
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url)
    return page, problems


def test_overview_page_in_a_browser(world, context):
    with _Server(world) as srv:
        page, problems = _open(context, srv.url + "/")
        try:
            page.wait_for_function(
                "[...document.querySelectorAll('.js-plotly-plot')].filter(g => (g.data || []).length).length == 3", timeout=15000)
            page.wait_for_timeout(300)  # let the last relayout settle before the screenshot
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)

            assert page.inner_text("h1") == "GPU cost overview"
            assert page.title() == "GPU cost overview · gpucost"
            assert page.inner_text("#card-spend-value") == "$280"
            assert page.inner_text("#card-gpu-hours-value") == "12.0 GPU-h"
            assert page.inner_text("#card-utilisation-value") == "50.0 %"
            assert page.inner_text("#card-idle-value") == "$110"
            assert "39.3 % of spend" in page.inner_text("#card-idle")
            assert "2026-01-05 00:00 to 2026-01-05 04:00 UTC" in page.inner_text("#overview-window")
            assert "no data for the previous 4 hours" in page.inner_text("#card-spend")
            names = page.evaluate("""() => Object.fromEntries(
                [...document.querySelectorAll('.js-plotly-plot')].map(
                    g => [g.closest('[id]').id, g.data.map(t => t.name)]))""")
            assert names == {
                "overview-spend-by-state": ["Active", "Allocated, idle", "Unallocated", "No data"],
                "overview-weekly": ["Active", "Allocated, idle", "Unallocated", "No data", None],
                "overview-cost-by-team": ["Active", "Allocated, idle"],
            }
            assert page.locator("#overview-spend-by-state .trace.bars").count() == 4
            assert not page.is_visible("#overview-message")
            assert problems == []
        finally:
            page.close()


@pytest.mark.parametrize("case, expected", [
    ("empty", "no GPU usage yet"),
    ("missing", "Cannot read the warehouse: warehouse not found"),
])
def test_overview_page_without_data_shows_why(case, expected, empty_world, tmp_path, context):
    settings = empty_world if case == "empty" else Settings(db=tmp_path / "absent.duckdb")
    with _Server(settings) as srv:
        page, problems = _open(context, srv.url + "/")
        try:
            page.wait_for_selector("#overview-message", state="visible", timeout=15000)
            assert expected in page.inner_text("#overview-message")
            assert page.locator(".js-plotly-plot").count() == 0
            assert page.locator("#card-spend").count() == 0
            assert problems == []
        finally:
            page.close()
