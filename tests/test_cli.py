"""The command line: formats, exit codes and one-line errors that leave the warehouse alone."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys

import pytest

from gpucost.build import build
from gpucost.cli import main
from gpucost.commands.output import format_rows
from gpucost.warehouse import open_warehouse
from test_models import load_world

GPUCOST = [sys.executable, "-m", "gpucost"]


@pytest.fixture
def warehouse(settings):
    with open_warehouse(settings, create=True) as con:
        load_world(con)
        build(con, settings)
    return settings.db


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*GPUCOST, *args], capture_output=True, text=True, timeout=120)


def test_query_formats(warehouse, capsys):
    sql = "select namespace, job, round(cost_usd, 3) as cost_usd from job_costs order by namespace"
    assert main(["--db", str(warehouse), "query", sql, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["job"] for r in rows] == ["alice", "bert", "chat", "ranker"]
    assert main(["query", sql, "--format", "csv", "--db", str(warehouse)]) == 0
    parsed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["namespace"] for r in parsed] == ["ds", "ml", "nlp", "search"]
    assert main(["--db", str(warehouse), "query", sql]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].split() == ["namespace", "job", "cost_usd"] and text[-1] == "(4 rows)"


def test_format_rows_renders_nulls_and_times():
    from datetime import datetime
    out = format_rows(["a", "b"], [(None, datetime(2026, 11, 2, 1))], "csv")
    assert out == "a,b\n,2026-11-02T01:00:00\n"
    assert json.loads(format_rows(["a"], [(None,)], "json")) == [{"a": None}]


@pytest.mark.parametrize("sql, message", [
    ("selec * from job_costs", "query failed: Parser Error"),
    ("select * from no_such_table", "query failed: Catalog Error"),
    ("delete from job_costs", "query failed: .*read-only"),
])
def test_bad_query_is_one_line_exit_1_and_changes_nothing(warehouse, sql, message):
    before = digest(warehouse)
    result = run("--db", str(warehouse), "query", sql)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("gpucost: error: ")
    assert __import__("re").search(message, result.stderr)
    assert digest(warehouse) == before


def test_missing_and_foreign_warehouse(tmp_path):
    missing = tmp_path / "nope.duckdb"
    result = run("--db", str(missing), "query", "select 1")
    assert (result.returncode, result.stderr.strip()) == (
        1, f"gpucost: error: warehouse not found: {missing} (run `gpucost demo` or a collector first)")
    assert not missing.exists()
    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello")
    result = run("--db", str(foreign), "build")
    assert result.returncode == 1 and "not a DuckDB warehouse" in result.stderr
    assert foreign.read_text() == "hello"


def test_usage_errors_exit_2(warehouse):
    assert run("--db", str(warehouse), "query").returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("--db", str(warehouse), "build", "--start", "yesterday").returncode == 2


def test_build_twice_is_a_no_op_then_explicit_window_rebuilds(warehouse, capsys):
    assert main(["--db", str(warehouse), "build"]) == 0
    assert "nothing to build" in capsys.readouterr().out
    assert main(["--db", str(warehouse), "build", "--start", "2026-11-02", "--end", "2026-11-03"]) == 0
    assert "built 2026-11-02..2026-11-03 (1 days)" in capsys.readouterr().out
    assert main(["--db", str(warehouse), "build", "--start", "2026-11-02"]) == 1
