"""Dashboard: queries, figure builders, /healthz and the overview page in a real browser.

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
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from werkzeug.serving import make_server

from gpucost.dashboard import figures, queries
from gpucost.dashboard.app import create_app
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse
from conftest import insert_gpu_usage

T0 = datetime(2026, 1, 5)
H = [T0 + timedelta(hours=i) for i in range(4)]
CHROMIUM = Path("/usr/bin/chromium")
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


def _insert(con, table: str, columns: str, rows: list[tuple]) -> None:
    marks = ", ".join(["?"] * len(columns.split(",")))
    con.executemany(f"insert into {table} ({columns}) values ({marks})", rows)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Settings:
    settings = Settings(db=tmp_path_factory.mktemp("world") / "w.duckdb", step_seconds=3600)
    with open_warehouse(settings, create=True) as con:
        insert_gpu_usage(con, USAGE_COLUMNS, _usage_rows())
        _insert(con, "job_costs", JOB_COLUMNS, JOB_ROWS)
        _insert(con, "asset_costs", ASSET_COLUMNS, ASSET_ROWS)
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
def browser():
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium chromium-driver)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--no-first-run"])
        yield b
        b.close()


def _open(browser, url: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url)
    return page, problems


def test_overview_page_in_a_browser(world, browser):
    with _Server(world) as srv:
        page, problems = _open(browser, srv.url + "/")
        try:
            page.wait_for_function(
                "[...document.querySelectorAll('.js-plotly-plot')].filter(g => (g.data || []).length).length == 2", timeout=15000)
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
            names = page.evaluate("""() => Object.fromEntries(
                [...document.querySelectorAll('.js-plotly-plot')].map(
                    g => [g.closest('[id]').id, g.data.map(t => t.name)]))""")
            assert names == {
                "overview-spend-by-state": ["Active", "Allocated, idle", "Unallocated", "No data"],
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
def test_overview_page_without_data_shows_why(case, expected, empty_world, tmp_path, browser):
    settings = empty_world if case == "empty" else Settings(db=tmp_path / "absent.duckdb")
    with _Server(settings) as srv:
        page, problems = _open(browser, srv.url + "/")
        try:
            page.wait_for_selector("#overview-message", state="visible", timeout=15000)
            assert expected in page.inner_text("#overview-message")
            assert page.locator(".js-plotly-plot").count() == 0
            assert page.locator("#card-spend").count() == 0
            assert problems == []
        finally:
            page.close()
