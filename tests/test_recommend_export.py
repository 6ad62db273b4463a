"""Exports and the command's bad-input handling.

World: one day, hourly steps, gpu_share 1.0, g5.xlarge overridden to $1/h. One Notebook
whose owner (the job) is named ``=HYPERLINK("http://x")`` and whose team label is
``@SUM(1+1)`` holds a GPU idle 04-20 h: idle-reclaim saves 16 GPU-hours = $16 in the window,
$480 a month. Names come from users, so the CSV must show them as text.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pyarrow.parquet as pq
import pytest
import yaml

from gpucost.analytics.recommend.export import inert
from gpucost.cli import main
from gpucost.settings import CostSplit, Settings
from gpucost.warehouse import open_warehouse
from test_recommend_rules import OVERRIDES, World, built

EVIL = '=HYPERLINK("http://x")'


@pytest.fixture
def evil_db(settings):
    s = replace(settings, step_seconds=3600, cost=CostSplit(gpu_share=1.0), price_overrides=OVERRIDES)
    w = World()
    w.pod("ds", "nb-0", "n1", w.node("n1", "g5.xlarge", 1), "Notebook", EVIL,
          util=lambda i, t: 0.0 if 4 <= t < 20 else 50.0, labels={"team": "@SUM(1+1)"})
    ctx, con = built(s, w)
    ctx.__exit__(None, None, None)
    cfg = s.db.parent / "gpucost.toml"
    cfg.write_text('step_seconds = 3600\n[cost]\ngpu_share = 1.0\n[prices.overrides]\n"g5.xlarge" = 1.0\n')
    return s.db, cfg


def run(db, cfg, *args) -> int:
    return main(["--db", str(db), "--config", str(cfg), "recommend", *args])


def test_csv_cells_that_look_like_formulas_are_inert(evil_db, capsys):
    db, cfg = evil_db
    assert run(db, cfg, "--format", "csv", "--kind", "idle-reclaim") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1
    row = rows[0]
    assert row["team"] == "'@SUM(1+1)"
    assert row["target"] == f"ds/Notebook/{EVIL}"
    assert float(row["monthly_savings_usd"]) == pytest.approx(480.0)
    for value in row.values():
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert json.loads(row["evidence"])["job"] == EVIL
    for prefix in ("=", "+", "-", "@", "\t", "\r"):
        assert inert(prefix + "1") == "'" + prefix + "1"
    assert inert("ok") == "ok" and inert(-1.5) == -1.5


def test_json_parquet_markdown_and_yaml(evil_db, tmp_path, capsys):
    db, cfg = evil_db
    assert run(db, cfg, "--format", "json") == 0
    recs = json.loads(capsys.readouterr().out)
    idle = [r for r in recs if r["kind"] == "idle-reclaim"]
    assert idle[0]["evidence"]["reclaimable_idle_gpu_hours"] == pytest.approx(16.0)
    assert idle[0]["gpu_hours_saved"] == pytest.approx(16.0)
    out = tmp_path / "r.parquet"
    assert run(db, cfg, "--format", "parquet", "--out", str(out)) == 0
    table = pq.read_table(out)
    assert table.num_rows == len(recs) and table.column_names[:3] == ["id", "kind", "cluster"]
    assert run(db, cfg, "--format", "md") == 0
    md = capsys.readouterr().out
    assert "## idle-reclaim — $480.00/month (1)" in md
    assert run(db, cfg, "--format", "yaml") == 0
    text = capsys.readouterr().out
    assert idle[0]["id"] in text  # listed in the header: idle-reclaim has no patch
    assert all(doc is None or doc["metadata"]["annotations"] for doc in yaml.safe_load_all(text))


@pytest.mark.parametrize("args, code, message", [
    (["--kind", "nope"], 2, "unknown kind 'nope'"),
    (["--format", "parquet"], 2, "--format parquet needs --out PATH"),
    (["--format", "xml"], 2, "invalid choice"),
    (["--min-savings", "-3"], 2, "must not be negative"),
])
def test_usage_errors(evil_db, capsys, args, code, message):
    db, cfg = evil_db
    with pytest.raises(SystemExit) as exc:
        run(db, cfg, *args)
    assert exc.value.code == code
    assert message in capsys.readouterr().err


def test_empty_or_missing_warehouse_is_a_one_line_failure(tmp_path, capsys):
    empty = Settings(db=tmp_path / "empty.duckdb")
    with open_warehouse(empty, create=True):
        pass
    assert main(["--db", str(empty.db), "recommend"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gpucost: error: no built GPU usage") and err.count("\n") == 1
    assert main(["--db", str(tmp_path / "missing.duckdb"), "recommend"]) == 1
    assert "warehouse not found" in capsys.readouterr().err


def test_window_from_start_and_end(evil_db, capsys):
    """--start 06:00 --end 18:00: the notebook is idle all 12 hours -> $12 in the window,
    x 720 / 12 = $720 a month."""
    db, cfg = evil_db
    assert run(db, cfg, "--format", "json", "--kind", "idle-reclaim",
               "--start", "2026-11-02T06:00", "--end", "2026-11-02T18:00") == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert (rec["window_start"], rec["window_end"]) == ("2026-11-02T06:00:00", "2026-11-02T18:00:00")
    assert rec["monthly_savings_usd"] == pytest.approx(720.0)
    assert rec["gpu_hours_saved"] == pytest.approx(12.0)
