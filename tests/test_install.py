"""A non-editable `pip install .` into a fresh venv works from another directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_install_runs_demo_and_query_elsewhere(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(REPO)],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    gpucost = str(venv / "bin" / "gpucost")
    demo = subprocess.run([gpucost, "demo", "--no-serve", "--db", "x.duckdb", "--gpus", "8", "--days", "1"],
                          cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert "GPU spend" in demo.stdout
    query = subprocess.run([gpucost, "--db", "x.duckdb", "query",
                            "select count(distinct state) as states, count(*) > 0 as has_jobs from job_costs "
                            "cross join (select distinct state from gpu_usage) s", "--format", "csv"],
                           cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert query.returncode == 0, query.stderr
    assert query.stdout.splitlines()[0] == "states,has_jobs"
    # the installed package carries its SQL, not the checkout's
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import gpucost.sql, pathlib; print(pathlib.Path(gpucost.sql.__file__).parent)"],
                           cwd=elsewhere, capture_output=True, text=True, check=True).stdout.strip()
    assert str(REPO) not in where and (Path(where) / "models" / "gpu_usage_steps.sql").is_file()
