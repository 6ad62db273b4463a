"""The simulator's telemetry against the real traces it is calibrated to (read in place).

Simulated sample: SimConfig(gpus=512, days=2, seed=0) written to an in-memory warehouse;
inference = pods owned by a Deployment, training = pods owned by a PyTorchJob or JobSet.
Activity = DCGM_FI_DEV_GPU_UTIL, or 100 x GR_ENGINE_ACTIVE on MIG slices (no GPU_UTIL).

| check                                   | real data                                   | tolerance      |
|-----------------------------------------|---------------------------------------------|----------------|
| embedded quantile knots                 | recomputed from the files                   | see each test  |
| inference activity, share exactly 0     | GenAI duty cycle: 0.668                     | +-0.05 abs     |
| inference activity distribution         | GenAI pod_gpu_duty_cycle_anon.csv           | KS < 0.10      |
| inference memory / device memory        | GenAI memory bytes / 48 GiB                 | KS < 0.10      |
| inference lag-1 autocorrelation, median | per-pod medians of the trace (0.33)         | +-0.15 abs     |
| training GPU_UTIL distribution          | AcmeTrace Seren+Kalos mixture               | KS < 0.07      |
| training GPU_UTIL distribution          | Seren alone, Kalos alone (0.12 apart)       | KS < 0.15      |
| training GPU_UTIL, share exactly 0      | Seren 0.314, Kalos 0.338                    | +-0.05 abs     |

KS = sup |F_sim - F_real| over all values. The files are in ../shared/data beside the repo
(or $GPUCOST_SHARED_DATA); without them these tests are skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pytest

from gpucost.ingest.simulate import SimConfig, calibration, simulate_to_warehouse
from gpucost.warehouse import migrate

pd = pytest.importorskip("pandas")
pytestmark = pytest.mark.shared_data

CFG = SimConfig(gpus=512, days=2, seed=0)


def shared_data() -> Path:
    path = Path(os.environ.get("GPUCOST_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"real public data not found at {path} (set GPUCOST_SHARED_DATA)")
    return path


@pytest.fixture(scope="module")
def real():
    root = shared_data()
    genai = root / "alibaba-genai-2026"
    cdfs = root / "utilization-cdfs"
    for f in (genai / "pod_gpu_duty_cycle_anon.csv", genai / "pod_gpu_memory_used_bytes_anon.csv",
              cdfs / "util_gpu_seren.csv", cdfs / "util_gpu_kalos.csv"):
        if not f.is_file():
            pytest.skip(f"real data file not found: {f}")
    duty = pd.read_csv(genai / "pod_gpu_duty_cycle_anon.csv")
    mem = pd.read_csv(genai / "pod_gpu_memory_used_bytes_anon.csv")
    seren = pd.read_csv(cdfs / "util_gpu_seren.csv")
    kalos = pd.read_csv(cdfs / "util_gpu_kalos.csv")
    return {
        "duty": duty, "mem": mem,
        # first column pair = DCGM_FI_DEV_GPU_UTIL (upstream generate_utilization_pkl.ipynb)
        "seren": (seren["col0"].to_numpy(), seren["col1"].to_numpy() / 100),
        "kalos": (kalos["col0"].to_numpy(), kalos["col1"].to_numpy() / 100),
        "seren_mem": (seren["col2"].to_numpy() / 100, seren["col3"].to_numpy() / 100),
    }


@pytest.fixture(scope="module")
def sim():
    shared_data()
    con = duckdb.connect()
    migrate(con, Path(":memory:"))
    simulate_to_warehouse(con, CFG)
    df = con.execute("""
        select a.owner_kind, s.namespace, s.pod, s.gpu_uuid, s.mig_instance_id, s.ts,
               coalesce(s.gpu_util, round(s.gr_engine_active * 100)) as activity, s.gpu_util,
               s.fb_used_mib / (s.fb_used_mib + s.fb_free_mib) as mem_fraction
        from raw_dcgm_samples s
        join (select distinct namespace, pod, owner_kind from raw_pod_allocations) a using (namespace, pod)
    """).fetchdf()
    con.close()
    return df


# -- distribution helpers -----------------------------------------------------------------

def ecdf(sample: np.ndarray, at: np.ndarray) -> np.ndarray:
    s = np.sort(sample)
    return np.searchsorted(s, at, side="right") / len(s)


def step_cdf(values: np.ndarray, levels: np.ndarray, at: np.ndarray) -> np.ndarray:
    """CDF of a distribution given as a quantile table (value at each level), at points."""
    idx = np.searchsorted(values, at, side="right") - 1
    return np.where(idx < 0, 0.0, levels[np.clip(idx, 0, len(levels) - 1)])


def ks_samples(a: np.ndarray, b: np.ndarray) -> float:
    at = np.union1d(a, b)
    return float(np.max(np.abs(ecdf(a, at) - ecdf(b, at))))


def ks_cdf(sample: np.ndarray, cdf) -> float:
    at = np.union1d(sample, np.round(np.arange(0, 100.001, 0.1), 1))
    return float(np.max(np.abs(ecdf(sample, at) - cdf(at))))


def knots(table) -> tuple[np.ndarray, np.ndarray]:
    return np.array([k[0] for k in table]), np.array([k[1] for k in table])


# -- the embedded tables are the files' quantiles -----------------------------------------------

def test_embedded_genai_tables_are_the_trace_quantiles(real):
    levels, values = knots(calibration.GENAI_DUTY_CYCLE_PCT)
    assert np.max(np.abs(np.quantile(real["duty"]["value"], levels) - values)) < 0.01
    levels, values = knots(calibration.GENAI_MEM_FRACTION)
    fraction = real["mem"]["value"] / calibration.GENAI_MEM_CARD_BYTES
    assert np.max(np.abs(np.quantile(fraction, levels) - values)) < 0.001
    assert real["mem"]["value"].max() <= calibration.GENAI_MEM_CARD_BYTES


def test_embedded_acme_tables_are_the_cdf_quantiles(real):
    levels, values = knots(calibration.ACME_GPU_UTIL_PCT)
    grid = np.round(np.arange(0, 100.001, 0.1), 1)
    mixture = (step_cdf(*real["seren"], grid) + step_cdf(*real["kalos"], grid)) / 2
    quantiles = grid[np.clip(np.searchsorted(mixture, levels, side="left"), 0, len(grid) - 1)]
    assert np.max(np.abs(quantiles[1:] - values[1:])) <= 0.1
    x, p = real["seren_mem"]
    zero = step_cdf(x, p, np.array([0.0]))[0]
    levels, values = knots(calibration.ACME_GPU_MEM_FRACTION)
    assert np.max(np.abs(np.interp(zero + (1 - zero) * levels, p, x) - values)) < 0.001


# -- inference vs Alibaba GenAI -----------------------------------------------------------------

def test_inference_activity_matches_genai_trace(sim, real):
    act = sim.loc[sim.owner_kind == "Deployment", "activity"].to_numpy()
    duty = real["duty"]["value"].to_numpy()
    assert len(act) > 100_000
    zero_sim, zero_real = np.mean(act == 0), np.mean(duty == 0)
    assert abs(zero_sim - zero_real) < 0.05, (zero_sim, zero_real)
    assert ks_samples(act, duty) < 0.10


def test_inference_memory_matches_genai_trace(sim, real):
    frac = sim.loc[sim.owner_kind == "Deployment", "mem_fraction"].to_numpy()
    trace = (real["mem"]["value"] / calibration.GENAI_MEM_CARD_BYTES).to_numpy()
    assert ks_samples(frac, trace) < 0.10


def lag1_median(df, keys, value, time) -> float:
    out = []
    for _, g in df.sort_values(time).groupby(keys, dropna=False):
        x = g[value].to_numpy(dtype=float)
        if len(x) > 100 and x.std() > 0:
            out.append(np.corrcoef(x[:-1], x[1:])[0, 1])
    return float(np.median(out))


def test_inference_activity_is_autocorrelated_like_the_trace(sim, real):
    inf = sim[sim.owner_kind == "Deployment"]
    simulated = lag1_median(inf, ["namespace", "pod", "gpu_uuid", "mig_instance_id"], "activity", "ts")
    trace = lag1_median(real["duty"], ["container_ip"], "value", "timestamp_anon")
    assert abs(simulated - trace) < 0.15, (simulated, trace)


# -- training vs AcmeTrace ------------------------------------------------------------------------

def test_training_util_matches_acmetrace(sim, real):
    util = sim.loc[sim.owner_kind.isin(["PyTorchJob", "JobSet"]), "gpu_util"].dropna().to_numpy()
    assert len(util) > 100_000
    seren, kalos = real["seren"], real["kalos"]
    assert ks_cdf(util, lambda at: (step_cdf(*seren, at) + step_cdf(*kalos, at)) / 2) < 0.07
    for x, p in (seren, kalos):
        assert ks_cdf(util, lambda at: step_cdf(x, p, at)) < 0.15
        zero_real = step_cdf(x, p, np.array([0.0]))[0]
        assert abs(np.mean(util == 0) - zero_real) < 0.05, (np.mean(util == 0), zero_real)
