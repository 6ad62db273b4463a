"""`gpucost collect ...` and `gpucost placement simulate` through the command line."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

import pytest

from aws_fakes import AwsServer, aws_env, load_spot_history, ondemand_prices_at, product_documents
from gpucost.cli import main
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse

NODES = "sn,cpu_milli,memory_mib,gpu,model\nn1,32000,131072,2,V100M16\nn2,16000,65536,1,T4\n"
PODS = ("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n"
        "p1,4000,8192,1,1000,\np2,2000,4096,1,500,\np3,8000,16384,2,1000,V100M16\n")


@pytest.fixture
def trace(tmp_path):
    (tmp_path / "nodes.csv").write_text(NODES)
    (tmp_path / "pods.csv").write_text(PODS)
    return tmp_path


def test_placement_simulate_csv_and_json(trace, capsys):
    args = ["placement", "simulate", "--nodes", str(trace / "nodes.csv"), "--pods", str(trace / "pods.csv"),
            "--policy", "best-fit", "--seed", "1"]
    assert main(args) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert list(rows[0]) == ["arrived_workload_pct", "gpu_alloc_pct", "frag_gpu_milli"]
    pcts = [int(r["arrived_workload_pct"]) for r in rows]
    assert pcts == sorted(set(pcts)) and pcts[0] >= 0 and pcts[-1] >= 129  # inflated to >= 130 %
    assert "best-fit, seed 1:" in captured.err
    assert main(args + ["--format", "json", "--out", str(trace / "out.json")]) == 0
    assert len(json.loads((trace / "out.json").read_text())) == len(rows)


def test_placement_bad_input_is_one_line(trace, capsys):
    (trace / "bad.csv").write_text("sn,cpu_milli,memory_mib,gpu,model\nn1,lots,1,1,T4\n")
    assert main(["placement", "simulate", "--nodes", str(trace / "bad.csv"), "--pods", str(trace / "pods.csv"),
                 "--policy", "fgd"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.csv" in err


def test_collect_billing_focus_sample(shared_data, tmp_path, capsys):
    sample = shared_data / "billing" / "focus-1.0_sample.csv"
    db = tmp_path / "w.duckdb"
    assert main(["--db", str(db), "collect", "billing", str(sample), "--format", "focus"]) == 0
    assert "1 files loaded (1,000 line items)" in capsys.readouterr().out
    assert main(["--db", str(db), "collect", "billing", str(sample), "--format", "focus"]) == 0
    assert "0 files loaded (0 line items), 1 unchanged and skipped" in capsys.readouterr().out


def test_collect_prices_from_aws(shared_data, tmp_path, monkeypatch, capsys):
    now = datetime(2025, 7, 1, tzinfo=timezone.utc)
    products = product_documents(ondemand_prices_at(shared_data, now))
    db = tmp_path / "w.duckdb"
    with AwsServer(load_spot_history(shared_data), products) as server:
        aws_env(monkeypatch, server.endpoint, tmp_path)
        assert main(["--db", str(db), "collect", "prices", "--instance-type", "p4d.24xlarge",
                     "--instance-type", "g5.xlarge", "--start", "2022-05-31T18:00:00Z",
                     "--end", "2022-06-01T00:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("us-east-1: ") and "for 2 instance types" in out
    with open_warehouse(Settings(db=db), read_only=True) as con:
        kinds = dict(con.execute("select kind, count(*) from raw_prices group by kind").fetchall())
    assert kinds.get("spot", 0) > 0 and kinds.get("on_demand", 0) == 2
