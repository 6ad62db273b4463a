"""Weekly report: every number against `gpucost query`, week choice, teams, no data, errors.

Hand world (step = 1 h, so one gpu_usage row = 1 GPU-hour; cluster c1). Weeks: W45 starts
Mon 2026-11-02, W46 Mon 2026-11-09, W47 (no rows: a gap inside the data), W48 Mon 2026-11-23.

    ts                GPU     node    $/h  state / util / holder (namespace, job, team)
    W45 11-02 00:00   gpu-a0  node-a  30   active 80 %  ml/train (ml)
    W45 11-02 01:00   gpu-a0  node-a  30   active 80 %  ml/train (ml)
    W45 11-02 00:00   gpu-b0  node-b  10   unallocated
    W46 11-09 00-02h  gpu-a0  node-a  30   active 80 %  ml/train (ml), 3 rows
    W46 11-09 00:00   gpu-a1  node-a  30   active 30 %  research/notebook (research)
    W46 11-09 01-02h  gpu-a1  node-a  30   allocated_idle 0 %  research/notebook, 2 rows
    W46 11-09 00:00   gpu-b0  node-b  10   unallocated
    W46 11-09 01:00   gpu-b0  node-b  10   no_data      serving/infer (team NULL -> serving)
    W46 11-09 02:00   gpu-b0  node-b  10   active 100 % serving/infer
    W48 11-23 00:00   gpu-a0  node-a  30   unallocated
    price_source: node-a on_demand_list, node-b spot_history.
    asset_costs W46 (11-09): node-a cost 200 / GPU share 180, node-b 35 / 30.
    raw_nodes: node-a aws:///us-east-1a/i-0aaa, node-b aws:///us-east-1b/i-0bbb.
    billing: i-0aaa, 11-09 00:00-03:00, billed 200, effective 190 (node-b: no line items).
    recommendations: r2 spot 1200/month, r1 rightsize 500, r3 no saving (0), no team.
    fragmentation: node-b 11-09 00:00, 1 stranded GPU.

Expected for W46 (fleet), by hand:

    quantity                          value
    spend / GPU-hours / rows          90 + 90 + 30 = 210 USD / 9 / 9
    by state USD                      active 90+30+10 = 130, allocated_idle 60, unallocated 10, no_data 10
    utilisation %                     (3x80 + 30 + 0 + 0 + 100) / 7 = 370/7 = 52.857
    previous week W45                 70 USD, 3 GPU-h -> change +200 %, +200 %
    teams (cost / idle / no data)     ml 90/0/0 (W45 60: +50 %), research 90/60/0 (W45 0: none),
                                      serving 10/0/10
    wasteful jobs                     research/notebook only (idle 60)
    price sources                     on_demand_list 180 USD 6 GPU-h, spot_history 30 USD 3 GPU-h
    identity                          asset GPU share 210 = spend, gap 0
    bill (instance-id match)          1 matched: billed 200, effective 190, computed 200, gap -10
                                      (-5 %); 1 node unbilled (35 USD)
    stranded                          10 USD, 1 GPU-h, 100 % of unallocated
    recommendations                   3, 1,700 USD/month, r2 first
    team research report              spend 90: active 30, allocated_idle 60

The simulated world (32 GPUs x 15 days from Mon 2026-11-02, seed 3, plus FOCUS billing for
three of its instances and one unseen one in W46) checks the same numbers against
`gpucost query` on a realistic fleet, the reconciliation mart and `--team all`.
"""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import insert_gpu_usage
from gpucost.cli import main
from gpucost.report.week import IsoWeek, last_complete_week
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse, publish_snapshot

APPROX = dict(rel=1e-9, abs=1e-9)
W45, W46, W48 = datetime(2026, 11, 2), datetime(2026, 11, 9), datetime(2026, 11, 23)
H = timedelta(hours=1)
USAGE_COLUMNS = ("ts, cluster, node, instance_type, capacity_type, gpu_uuid, gpu_index, device_id, gpu_model, "
                 "namespace, pod, job, team, state, util_pct, mem_used_bytes, mem_total_bytes, power_w, "
                 "gpu_hours, cost_usd, price_source")


def hand_rows() -> list[tuple]:
    a = ("node-a", "p4d.24xlarge", "on_demand")
    b = ("node-b", "g5.xlarge", "spot")
    train, nb, infer = ("ml", "train-0", "train", "ml"), ("research", "nb-0", "notebook", "research"), \
        ("serving", "infer-0", "infer", None)
    free = (None, None, None, None)
    cells = [  # (ts, node, gpu, index, holder, state, util, $)
        (W45, a, "gpu-a0", 0, train, "active", 80.0, 30.0), (W45 + H, a, "gpu-a0", 0, train, "active", 80.0, 30.0),
        (W45, b, "gpu-b0", 0, free, "unallocated", 0.0, 10.0),
        *[(W46 + i * H, a, "gpu-a0", 0, train, "active", 80.0, 30.0) for i in range(3)],
        (W46, a, "gpu-a1", 1, nb, "active", 30.0, 30.0),
        *[(W46 + i * H, a, "gpu-a1", 1, nb, "allocated_idle", 0.0, 30.0) for i in (1, 2)],
        (W46, b, "gpu-b0", 0, free, "unallocated", 0.0, 10.0),
        (W46 + H, b, "gpu-b0", 0, infer, "no_data", None, 10.0),
        (W46 + 2 * H, b, "gpu-b0", 0, infer, "active", 100.0, 10.0),
        (W48, a, "gpu-a0", 0, free, "unallocated", 0.0, 30.0),
    ]
    source = {"node-a": "on_demand_list", "node-b": "spot_history"}
    return [(ts, "c1", *node, gpu, idx, gpu, "A100", *holder, state, util, None, 40 * 2**30, None, 1.0, usd,
             source[node[0]]) for ts, node, gpu, idx, holder, state, util, usd in cells]


def build_hand_world(db: Path) -> Settings:
    """The hand world above in a fresh warehouse (no snapshot), with a gpucost.toml beside it
    saying its step is an hour (the CLI reads it through --config)."""
    settings = Settings(db=db, step_seconds=3600)
    (db.parent / "gpucost.toml").write_text("step_seconds = 3600\n")
    with open_warehouse(settings, create=True) as con:
        insert_gpu_usage(con, USAGE_COLUMNS, hand_rows())
        con.executemany("insert into asset_costs (window_start, window_end, cluster, node, instance_type, "
                        "capacity_type, price_source, hours, gpu_count, gpu_share, cost_usd, gpu_cost_usd) "
                        "values (?, ?, 'c1', ?, ?, ?, 'test', 3, ?, 0.9, ?, ?)",
                        [(W46, W46 + 24 * H, "node-a", "p4d.24xlarge", "on_demand", 2, 200.0, 180.0),
                         (W46, W46 + 24 * H, "node-b", "g5.xlarge", "spot", 1, 35.0, 30.0)])
        con.executemany("insert into raw_nodes (cluster, node, valid_from, valid_to, gpu_count, provider_id, source) "
                        "values ('c1', ?, ?, ?, ?, ?, 'test')",
                        [("node-a", W45, W48 + H, 2, "aws:///us-east-1a/i-0aaa"),
                         ("node-b", W45, W48 + H, 1, "aws:///us-east-1b/i-0bbb")])
        con.execute("insert into raw_billing_line_items (charge_period_start, charge_period_end, resource_id, "
                    "billed_cost, effective_cost, billing_currency, pricing_unit, source) "
                    "values (?, ?, 'i-0aaa', 200, 190, 'USD', 'Hours', 'test')", [W46, W46 + 3 * H])
        con.executemany("insert into recommendations (id, kind, target, evidence, action, monthly_savings_usd, "
                        "gpu_hours_saved, confidence, window_start, window_end) values (?, ?, ?, '{}', ?, ?, 0, ?, ?, ?)",
                        [("r1", "rightsize", "research/notebook", "use 1 GPU less", 500.0, "high", W46, W46 + 24 * H),
                         ("r2", "spot", "ml/train", "run on spot", 1200.0, "medium", W46, W46 + 24 * H),
                         ("r3", "share", "serving/infer", "time-slice", 0.0, "low", W46, W46 + 24 * H)])
        con.execute("insert into fragmentation (ts, cluster, node, gpu_count, free_gpus, free_whole_gpus, "
                    "frag_gpu_milli, largest_free_block, stranded_gpus, free_cost_usd, stranded_cost_usd) "
                    "values (?, 'c1', 'node-b', 1, 1, 1, 1000, 1, 1, 10, 10)", [W46])
    return settings


@pytest.fixture(scope="module")
def hand(tmp_path_factory) -> Settings:
    return build_hand_world(tmp_path_factory.mktemp("hand") / "w.duckdb")


@pytest.fixture(scope="module")
def charts_server():
    """One kaleido/Chromium for every report this module renders."""
    from gpucost.report.images import ImageRenderer

    with ImageRenderer() as renderer:
        yield renderer


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def query(capsys, settings: Settings, sql: str) -> list[dict]:
    code, out, err = run_cli(capsys, "--db", settings.db, "query", sql, "--format", "json")
    assert code == 0, err
    return json.loads(out)


def report_json(out: Path, slug: str) -> dict:
    return json.loads((out / f"{slug}.json").read_text())


def weekly(capsys, settings: Settings, out: Path, *extra: str) -> tuple[int, str, str]:
    config = settings.db.parent / "gpucost.toml"
    return run_cli(capsys, "--db", settings.db, *(["--config", config] if config.exists() else []),
                   "report", "weekly", "--out", out, *extra)


# ---------------------------------------------------------------- weeks (pure)

def test_iso_weeks():
    w = IsoWeek.parse("2026-W46")
    assert (w.start, w.end, str(w.previous())) == (W46, W46 + timedelta(days=7), "2026-W45")
    assert str(IsoWeek.parse("2027-w1").previous()) == "2026-W53"  # 2026 has 53 ISO weeks
    assert IsoWeek.containing(datetime(2027, 1, 1)) == IsoWeek(2026, 53)
    for bad in ("2026-46", "2025-W53", "W46"):
        with pytest.raises(ValueError):
            IsoWeek.parse(bad)
    # data [Mon 11-02, Tue 11-17): W46 is the last complete week; exactly to Monday 11-16 too
    assert last_complete_week(W45, datetime(2026, 11, 17)) == IsoWeek(2026, 46)
    assert last_complete_week(W45, datetime(2026, 11, 16)) == IsoWeek(2026, 46)
    assert last_complete_week(W45 + H, datetime(2026, 11, 15)) is None


# ---------------------------------------------------------------- hand world: exact numbers

def _sql_week(week: datetime, team: str | None = None) -> str:
    where = f"ts >= '{week:%Y-%m-%d}' and ts < '{week + timedelta(days=7):%Y-%m-%d}'"
    return where + (f" and coalesce(team, namespace) = '{team}'" if team else "")


def test_hand_world_fleet_report_matches_the_hand_table(hand, tmp_path, capsys, charts_server):
    code, out, err = weekly(capsys, hand, tmp_path, "--week", "2026-W46")
    assert code == 0, err
    r = report_json(tmp_path, "gpucost-2026-W46")
    t = r["totals"]
    assert (t["spend_usd"], t["gpu_hours"], t["gpu_usage_rows"]) == (210.0, 9.0, 9)
    assert t["util_pct"] == pytest.approx(370 / 7, **APPROX)
    assert {s["state"]: s["cost_usd"] for s in t["states"]} == {
        "active": 130.0, "allocated_idle": 60.0, "unallocated": 10.0, "no_data": 10.0}
    c = r["change"]
    assert (c["previous_week"], c["previous_spend_usd"], c["spend_pct"], c["gpu_hours_pct"]) == (
        "2026-W45", 70.0, pytest.approx(200.0), pytest.approx(200.0))
    teams = {x["team"]: (x["cost_usd"], x["idle_cost_usd"], x["no_data_cost_usd"], x["previous_cost_usd"],
                         x["change_pct"]) for x in r["teams"]}
    assert teams == {"ml": (90.0, 0.0, 0.0, 60.0, pytest.approx(50.0)),
                     "research": (90.0, 60.0, 0.0, 0.0, None), "serving": (10.0, 0.0, 10.0, 0.0, None)}
    assert [x["team"] for x in r["teams"]][2] == "serving"
    assert [(j["namespace"], j["job"], j["idle_cost_usd"]) for j in r["wasteful_jobs"]] == [
        ("research", "notebook", 60.0)]
    dq = r["data_quality"]
    assert [(p["price_source"], p["cost_usd"], p["gpu_hours"]) for p in dq["price_sources"]] == [
        ("on_demand_list", 180.0, 6.0), ("spot_history", 30.0, 3.0)]
    assert (dq["no_data_cost_usd"], dq["no_data_cost_share"]) == (10.0, pytest.approx(10 / 210))
    assert (dq["asset_gpu_cost_usd"], dq["identity_gap_usd"]) == (210.0, 0.0)
    b = dq["reconciliation"]
    assert (b["method"], b["billing_lines"], b["instances_matched"], b["billed_usd"], b["effective_usd"],
            b["computed_usd"], b["gap_usd"], b["gap_pct"], b["unbilled_nodes"], b["unbilled_computed_usd"]) == (
        "instance-id", 1, 1, 200.0, 190.0, 200.0, -10.0, -5.0, 1, 35.0)
    assert r["stranded"] == {"cost_usd": 10.0, "gpu_hours": 1.0, "share_of_unallocated": 1.0}
    assert [x["id"] for x in r["recommendations"]] == ["r2", "r1", "r3"]
    assert (r["recommendations_count"], r["recommendations_savings_usd"]) == (3, 1700.0)
    assert (r["complete"], r["has_data"], r["clusters"]) == (True, True, ["c1"])
    with open(tmp_path / "gpucost-2026-W46-recommendations.csv") as fh:
        assert [row["id"] for row in csv.DictReader(fh)] == ["r2", "r1", "r3"]
    html = (tmp_path / "gpucost-2026-W46.html").read_text()
    assert re.search(r'id="kpi-spend"[^>]*>\$210<', html)
    for shown in (">+200.0 % vs 2026-W45<", ">52.9 %<", ">$1,200<", ">$1,700<", ">$60.00<"):
        assert shown in html, shown


def test_hand_world_team_report(hand, tmp_path, capsys, charts_server):
    code, out, err = weekly(capsys, hand, tmp_path, "--week", "2026-W46", "--team", "research")
    assert code == 0, err
    r = report_json(tmp_path, "gpucost-2026-W46-team-research")
    assert (r["scope"], r["team"], r["totals"]["spend_usd"]) == ("team", "research", 90.0)
    assert {s["state"]: s["cost_usd"] for s in r["totals"]["states"]} == {
        "active": 30.0, "allocated_idle": 60.0, "unallocated": 0.0, "no_data": 0.0}
    assert r["change"]["spend_pct"] is None  # research had no usage in W45
    assert [t["team"] for t in r["teams"]] == ["research"]
    assert r["data_quality"]["reconciliation"] is None and r["stranded"] is None
    assert r["recommendations"] == []  # none of the hand world's recommendations names a team
    serving = weekly(capsys, hand, tmp_path, "--week", "2026-W46", "--team", "serving")
    assert serving[0] == 0
    s = report_json(tmp_path, "gpucost-2026-W46-team-serving")["totals"]
    assert (s["spend_usd"], s["states"][3]["cost_usd"]) == (20.0, 10.0)  # held with no telemetry counts


def test_gap_week_inside_the_data_says_there_was_no_usage(hand, tmp_path, capsys):
    # default: the last complete week of [11-02, 11-23 01:00) is W47, which has no rows
    code, out, err = weekly(capsys, hand, tmp_path)
    assert code == 0, err
    assert "GPU cost report 2026-W47 (fleet): no GPU usage" in out
    r = report_json(tmp_path, "gpucost-2026-W47")
    assert (r["has_data"], r["totals"]["spend_usd"], r["wasteful_jobs"], r["teams"]) == (False, 0.0, [], [])
    assert "No GPU usage was recorded for the fleet in week 2026-W47" in (tmp_path / "gpucost-2026-W47.html").read_text()
    assert "No GPU usage was recorded" in (tmp_path / "gpucost-2026-W47.md").read_text()
    with open(tmp_path / "gpucost-2026-W47-jobs.csv") as fh:
        assert len(list(csv.reader(fh))) == 1  # header only
    assert not list(tmp_path.glob("*.png"))  # no charts of nothing


def test_week_outside_the_data_is_a_one_line_error(hand, tmp_path, capsys):
    code, out, err = weekly(capsys, hand, tmp_path, "--week", "2026-W30")
    assert code == 1
    assert err == ("gpucost: error: week 2026-W30 (2026-07-20 to 2026-07-27) is outside the warehouse's data "
                   "(2026-11-02 00:00 to 2026-11-23 01:00 UTC)\n")
    assert not list(tmp_path.iterdir())
    code, out, err = weekly(capsys, hand, tmp_path, "--team", "nobody", "--week", "2026-W46")
    assert code == 1 and err.startswith("gpucost: error: unknown team 'nobody' (teams in the warehouse: ml, ")
    with pytest.raises(SystemExit) as exc:
        main(["--db", str(hand.db), "report", "weekly", "--week", "2026-W60"])
    assert exc.value.code == 2


def test_empty_warehouse(tmp_path, capsys):
    settings = Settings(db=tmp_path / "empty.duckdb")
    with open_warehouse(settings, create=True):
        pass
    code, out, err = weekly(capsys, settings, tmp_path / "out")
    assert (code, err) == (1, "gpucost: error: the warehouse has no GPU usage yet (run `gpucost build`, "
                              "or pass --week)\n")
    code, out, err = weekly(capsys, settings, tmp_path / "out", "--week", "2026-W46")
    assert code == 0, err
    r = report_json(tmp_path / "out", "gpucost-2026-W46")
    assert r["has_data"] is False and r["recommendations"] is None and r["stranded"] is None
    assert any("no recommendations yet" in n for n in r["notes"])


# ---------------------------------------------------------------- simulated world vs gpucost query

SIM_INSTANCES = 3


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Settings:
    from gpucost.build import build
    from gpucost.ingest.billing import import_billing
    from gpucost.ingest.simulate import SimConfig, simulate_to_warehouse

    folder = tmp_path_factory.mktemp("sim")
    settings = Settings(db=folder / "sim.duckdb")
    with open_warehouse(settings, create=True) as con:
        simulate_to_warehouse(con, SimConfig(gpus=32, days=15, seed=3))
        nodes = con.execute("""
            select regexp_extract(provider_id, '[^/]+$') as iid, min(instance_type) from raw_nodes
            where capacity_type = 'on_demand' and valid_from >= ? and valid_to <= ?
            group by iid having sum(epoch(valid_to) - epoch(valid_from)) = 7 * 86400
            order by iid limit ?""", [W46, W46 + timedelta(days=7), SIM_INSTANCES]).fetchall()
        assert len(nodes) == SIM_INSTANCES
        billed = [(iid, itype, 7 if i < 2 else 5) for i, (iid, itype) in enumerate(nodes)]
        billed.append(("i-0000000000unseen", "p4d.24xlarge", 7))
        import_billing(con, str(focus_file(folder / "focus.csv", billed)), "focus")
        build(con, settings)
        publish_snapshot(con, settings)
    return settings


def focus_file(path: Path, instances: list[tuple[str, str, int]]) -> Path:
    """Daily FOCUS lines in W46: (instance id, type, days billed), 20 USD/h billed, 18 effective."""
    header = ["BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ProviderName",
              "ServiceName", "ChargeCategory", "ChargeDescription", "ResourceId", "PricingQuantity", "PricingUnit",
              "BilledCost", "EffectiveCost", "ListCost", "BillingCurrency"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for iid, itype, days in instances:
            for d in range(days):
                start = W46 + timedelta(days=d)
                w.writerow(["2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", f"{start:%Y-%m-%dT%H:%M:%SZ}",
                            f"{start + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}", "AWS", "Amazon Elastic Compute Cloud",
                            "Usage", f"$20 per On Demand Linux {itype} Instance Hour", iid, "24", "Hours",
                            "480", "432", "480", "USD"])
    return path


def by(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}


def test_sim_fleet_report_equals_gpucost_query(sim, tmp_path, capsys, charts_server):
    code, out, err = weekly(capsys, sim, tmp_path)  # default week: the last complete one
    assert code == 0, err
    r = report_json(tmp_path, "gpucost-2026-W46")
    week, prev = _sql_week(W46), _sql_week(W46 - timedelta(days=7))
    held = "state in ('active', 'allocated_idle')"
    util = (f"sum(util_pct * gpu_hours) filter (where {held} and util_pct is not null) "
            f"/ sum(gpu_hours) filter (where {held} and util_pct is not null)")

    [t] = query(capsys, sim, f"select count(*) n, sum(cost_usd) spend, sum(gpu_hours) h, {util} util "
                              f"from gpu_usage where {week}")
    assert (r["totals"]["gpu_usage_rows"], r["totals"]["spend_usd"], r["totals"]["gpu_hours"],
            r["totals"]["util_pct"]) == (t["n"], pytest.approx(t["spend"], **APPROX),
                                         pytest.approx(t["h"], **APPROX), pytest.approx(t["util"], **APPROX))
    states = by(query(capsys, sim, f"select state, sum(cost_usd) c, sum(gpu_hours) h from gpu_usage "
                                   f"where {week} group by state"), "state")
    for s in r["totals"]["states"]:
        assert (s["cost_usd"], s["gpu_hours"], s["share"]) == (
            pytest.approx(states[s["state"]]["c"], **APPROX), pytest.approx(states[s["state"]]["h"], **APPROX),
            pytest.approx(states[s["state"]]["c"] / t["spend"], **APPROX))
    [p] = query(capsys, sim, f"select sum(cost_usd) spend, sum(gpu_hours) h from gpu_usage where {prev}")
    c = r["change"]
    assert (c["previous_spend_usd"], c["spend_pct"], c["gpu_hours_pct"]) == (
        pytest.approx(p["spend"], **APPROX), pytest.approx((t["spend"] - p["spend"]) / p["spend"] * 100, **APPROX),
        pytest.approx((t["h"] - p["h"]) / p["h"] * 100, **APPROX))

    teams = query(capsys, sim, f"""
        select coalesce(team, namespace) team, count(distinct (cluster, namespace, job)) jobs,
               sum(gpu_hours) filter (where {held}) h, sum(cost_usd) filter (where {held}) cost,
               coalesce(sum(cost_usd) filter (where state = 'allocated_idle'), 0) idle,
               coalesce(sum(cost_usd) filter (where state = 'no_data'), 0) no_data, {util} util
        from gpu_usage where {week} and pod is not null group by 1 order by cost desc""")
    previous = by(query(capsys, sim, f"select coalesce(team, namespace) team, sum(cost_usd) cost from gpu_usage "
                                     f"where {prev} and {held} group by 1"), "team")
    assert [x["team"] for x in r["teams"]] == [x["team"] for x in teams]
    for got, want in zip(r["teams"], teams):
        before = previous.get(want["team"], {"cost": 0.0})["cost"]
        assert (got["jobs"], got["gpu_hours"], got["cost_usd"], got["idle_cost_usd"], got["no_data_cost_usd"],
                got["util_pct"], got["previous_cost_usd"]) == (
            want["jobs"], pytest.approx(want["h"], **APPROX), pytest.approx(want["cost"], **APPROX),
            pytest.approx(want["idle"], **APPROX), pytest.approx(want["no_data"], **APPROX),
            pytest.approx(want["util"], **APPROX), pytest.approx(before, **APPROX))

    jobs = query(capsys, sim, f"""
        select namespace, job, sum(cost_usd) filter (where state = 'allocated_idle') idle,
               sum(cost_usd) filter (where {held}) cost, sum(gpu_hours) filter (where {held}) h, {util} util
        from gpu_usage where {week} and job is not null group by cluster, namespace, job
        having idle > 0 order by idle desc, cost desc, namespace, job limit 10""")
    assert [(j["namespace"], j["job"]) for j in r["wasteful_jobs"]] == [(j["namespace"], j["job"]) for j in jobs]
    for got, want in zip(r["wasteful_jobs"], jobs):
        assert (got["idle_cost_usd"], got["cost_usd"], got["gpu_hours"], got["util_pct"]) == (
            pytest.approx(want["idle"], **APPROX), pytest.approx(want["cost"], **APPROX),
            pytest.approx(want["h"], **APPROX), pytest.approx(want["util"], **APPROX))
    [n] = query(capsys, sim, f"select count(distinct (cluster, namespace, job)) n from gpu_usage "
                              f"where {week} and job is not null")
    assert r["jobs"] == n["n"]
    with open(tmp_path / "gpucost-2026-W46-jobs.csv") as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == n["n"]

    dq = r["data_quality"]
    sources = by(query(capsys, sim, f"select price_source, sum(cost_usd) c, sum(gpu_hours) h from gpu_usage "
                                    f"where {week} group by 1"), "price_source")
    assert {p["price_source"] for p in dq["price_sources"]} == set(sources) >= {"billing", "catalog_list"}
    for s in dq["price_sources"]:
        assert (s["cost_usd"], s["gpu_hours"]) == (pytest.approx(sources[s["price_source"]]["c"], **APPROX),
                                                   pytest.approx(sources[s["price_source"]]["h"], **APPROX))
    [a] = query(capsys, sim, "select sum(gpu_cost_usd) g from asset_costs "
                              "where window_start >= '2026-11-09' and window_start < '2026-11-16'")
    assert dq["asset_gpu_cost_usd"] == pytest.approx(a["g"], **APPROX)
    assert abs(dq["identity_gap_usd"]) < 1e-6

    b = dq["reconciliation"]
    [m] = query(capsys, sim, """
        select count(distinct instance_id) filter (where billed_cost_usd is not null and computed_cost_usd is not null) n,
               sum(billed_cost_usd) filter (where billed_cost_usd is not null and computed_cost_usd is not null) billed,
               sum(effective_cost_usd) filter (where billed_cost_usd is not null and computed_cost_usd is not null) eff,
               sum(computed_cost_usd) filter (where billed_cost_usd is not null and computed_cost_usd is not null) comp,
               count(distinct instance_id) filter (where computed_cost_usd is null) unseen,
               sum(billed_cost_usd) filter (where computed_cost_usd is null) unseen_usd
        from reconciliation where day >= '2026-11-09' and day < '2026-11-16'""")
    assert (b["method"], b["instances_matched"], b["unseen_instances"]) == ("reconciliation", SIM_INSTANCES, 1)
    assert (b["billed_usd"], b["effective_usd"], b["computed_usd"], b["gap_usd"], b["unseen_billed_usd"]) == (
        pytest.approx(m["billed"], **APPROX), pytest.approx(m["eff"], **APPROX), pytest.approx(m["comp"], **APPROX),
        pytest.approx(m["eff"] - m["comp"], **APPROX), pytest.approx(m["unseen_usd"], **APPROX))
    assert b["billed_usd"] == pytest.approx(480 * (7 + 7 + 5))  # the FOCUS file's lines for the three
    assert b["unseen_billed_usd"] == pytest.approx(480 * 7)
    [lines] = query(capsys, sim, "select count(*) n from raw_billing_line_items "
                                 "where charge_period_start < '2026-11-16' and charge_period_end > '2026-11-09'")
    assert b["billing_lines"] == lines["n"] == 7 + 7 + 5 + 7

    # The HTML shows the report's numbers (equal to the queries' above to 1e-9), formatted as the
    # dashboard formats them. (Formatting the queries' sums instead could differ in the last
    # digit: parallel float sums differ in their last bits, e.g. at x.x5 GPU-h.)
    from gpucost.dashboard import formatting as fmt
    html = (tmp_path / "gpucost-2026-W46.html").read_text()
    tot = r["totals"]
    for value in (fmt.usd(tot["spend_usd"]), fmt.gpu_hours(tot["gpu_hours"]), fmt.pct(tot["util_pct"]),
                  *[fmt.usd(x["cost_usd"]) for x in r["teams"][:10]],
                  *[fmt.usd(j["idle_cost_usd"]) for j in r["wasteful_jobs"]],
                  *[fmt.usd(s["cost_usd"]) for s in tot["states"]], fmt.usd(b["billed_usd"]),
                  fmt.usd(b["computed_usd"]), *[fmt.usd(p["cost_usd"]) for p in dq["price_sources"]]):
        assert f">{value}<" in html, value


def test_sim_team_all_writes_one_report_per_team(sim, tmp_path, capsys, charts_server):
    code, out, err = weekly(capsys, sim, tmp_path, "--week", "2026-W46", "--team", "all")
    assert code == 0, err
    teams = query(capsys, sim, f"select coalesce(team, namespace) team, sum(cost_usd) held from gpu_usage "
                               f"where {_sql_week(W46)} and pod is not null group by 1 order by 1")
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    from gpucost.report.model import team_slug
    assert written == sorted(f"gpucost-2026-W46-team-{team_slug(t['team'])}.json" for t in teams)
    for t in teams:
        r = report_json(tmp_path, f"gpucost-2026-W46-team-{team_slug(t['team'])}")
        assert r["team"] == t["team"] and r["totals"]["spend_usd"] == pytest.approx(t["held"], **APPROX)
        assert (tmp_path / f"gpucost-2026-W46-team-{team_slug(t['team'])}.html").exists()
