"""The notebooks in notebooks/ run clean (`pytest --nbmake`) on a small demo warehouse.

World: the simulator's 16 GPUs for 2 days, seed 1, built and published as a snapshot like
the collector does; the notebooks find it through GPUCOST_DB. Each notebook asserts its own
invariants (e.g. the accounting identity in 01), so "runs clean" checks numbers too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpucost.ingest.simulate import SimConfig
from conftest import simulated

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_notebooks_are_committed_without_outputs():
    assert len(NOTEBOOKS) >= 3
    for path in NOTEBOOKS:
        book = json.loads(path.read_text())
        for cell in book["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, path.name
        assert any("GPUCOST_DB" in "".join(c["source"]) for c in book["cells"]), path.name


@pytest.mark.slow
def test_notebooks_run_clean_on_a_demo_warehouse(tmp_path):
    pytest.importorskip("nbmake")
    settings = simulated(tmp_path / "demo.duckdb", SimConfig(gpus=16, days=2, seed=1), publish=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUCOST_")}
    env["GPUCOST_DB"] = str(settings.db)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbmake",
                        "--nbmake-timeout=120", *map(str, NOTEBOOKS)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert f"{len(NOTEBOOKS)} passed" in r.stdout
