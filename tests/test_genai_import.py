"""`gpucost import alibaba-genai-2026`: the GenAI serving trace as DCGM-equivalent samples.

Hand-made trace (60 s steps, threshold 5 %), two pods a and b, sample times in seconds from
2026-11-02 00:00:
  a  duty 0 @0, 0 @30 (same step), 50 @60, 2 @120, none @180, 80 @240   memory 1 GiB @0..@240
  b  no duty-cycle sample at all                                        memory 2 GiB @0, @60
Expected per pod and step: a: 00:00 idle (mean 0), 00:01 active, 00:02 idle, 00:03 no_data
(memory only, no activity), 00:04 active; b: 00:00, 00:01 no_data (never idle).
"""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import datetime

import pytest

from gpucost.cli import main
from gpucost.commands.import_trace import idle_share
from gpucost.ingest.loads import Window
from gpucost.warehouse import open_warehouse

T0 = datetime(2026, 11, 2).timestamp() - (datetime.fromtimestamp(0) - datetime(1970, 1, 1)).total_seconds()
GIB = 2 ** 30
A, B = "a" * 32, "b" * 32


def write(path, header, rows):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def trace(tmp_path):
    duty = write(tmp_path / "duty.csv", ["value", "timestamp_anon", "container_ip"],
                 [(v, T0 + t, A) for t, v in [(0, 0), (30, 0), (60, 50), (120, 2), (240, 80)]])
    memory = write(tmp_path / "memory.csv", ["timestamp_anon", "value", "container_ip"],
                   [(T0 + t, GIB, A) for t in (0, 60, 120, 180, 240)] + [(T0 + t, 2 * GIB, B) for t in (0, 60)])
    return duty, memory


def states(settings) -> dict[str, list[str]]:
    with open_warehouse(settings, read_only=True) as con:
        rows = con.execute("select pod, list(state::varchar order by ts) from gpu_usage group by pod").fetchall()
    return dict(rows)


def test_hand_made_trace_builds_to_the_expected_states(settings, trace, capsys):
    duty, memory = trace
    assert main(["--db", str(settings.db), "import", "alibaba-genai-2026", "--duty-cycle", str(duty),
                 "--memory", str(memory)]) == 0
    assert "imported 2 pods" in capsys.readouterr().out
    got = states(settings)
    assert got == {"genai-aaaaaaaaaaaa": ["allocated_idle", "active", "allocated_idle", "no_data", "active"],
                   "genai-bbbbbbbbbbbb": ["no_data", "no_data"]}
    with open_warehouse(settings, read_only=True) as con:
        mem = con.execute("select mem_used_bytes from gpu_usage where pod = 'genai-bbbbbbbbbbbb'").fetchall()
    assert mem == [(2 * GIB,), (2 * GIB,)]


def test_bad_input_is_refused_and_nothing_is_loaded(settings, trace, tmp_path, capsys):
    duty, memory = trace
    bad = write(tmp_path / "bad.csv", ["value", "timestamp", "container_ip"], [(1, T0, A)])
    assert main(["--db", str(settings.db), "import", "alibaba-genai-2026", "--duty-cycle", str(bad),
                 "--memory", str(memory)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.csv" in err and "timestamp_anon" in err
    negative = write(tmp_path / "neg.csv", ["value", "timestamp_anon", "container_ip"], [(1, T0, A), (-3, T0, A)])
    assert main(["--db", str(settings.db), "import", "alibaba-genai-2026", "--duty-cycle", str(negative),
                 "--memory", str(memory)]) == 1
    assert "neg.csv: line 3" in capsys.readouterr().err
    with open_warehouse(settings, read_only=True) as con:
        assert con.execute("select count(*) from raw_dcgm_samples").fetchone()[0] == 0


@pytest.mark.shared_data
def test_real_trace_idle_share_matches_the_csv(shared_data, settings, capsys):
    folder = shared_data / "alibaba-genai-2026"
    duty, memory = folder / "pod_gpu_duty_cycle_anon.csv", folder / "pod_gpu_memory_used_bytes_anon.csv"
    assert main(["--db", str(settings.db), "import", "alibaba-genai-2026", "--duty-cycle", str(duty),
                 "--memory", str(memory)]) == 0
    print(capsys.readouterr().out)
    # direct: the share of duty-cycle samples below the idle threshold, and of exactly 0
    with duty.open() as f:
        values = [float(r["value"]) for r in csv.DictReader(f)]
    below = sum(v < settings.idle_threshold_pct for v in values) / len(values)
    zero = sum(v == 0 for v in values) / len(values)
    assert 0.6 < zero < 0.7                                   # "about two thirds of samples are exactly 0"
    with open_warehouse(settings, read_only=True) as con:
        window = Window(*con.execute("select min(window_start), max(window_end) from loads").fetchone())
        share = idle_share(con, settings.cluster, window)
        pods_no_duty = con.execute("""select pod from gpu_usage where pod is not null
                                      group by pod having bool_and(state = 'no_data')""").fetchall()
    # samples come every 57 s and are averaged into 60 s steps, hence a tolerance of 1 point
    assert share["idle_share"] == pytest.approx(below, abs=0.01), (share, below)
    assert share["no_data_gpu_hours"] > 0 and pods_no_duty        # a pod with memory but no duty cycle
    print(f"idle share: warehouse {share['idle_share']:.4f}, CSV samples below threshold {below:.4f}")


def test_threshold_setting_changes_the_idle_share(settings, trace):
    duty, memory = trace
    strict = replace(settings, idle_threshold_pct=1.0)
    assert main(["--db", str(strict.db), "import", "alibaba-genai-2026", "--duty-cycle", str(duty),
                 "--memory", str(memory)]) == 0
    with open_warehouse(strict, read_only=True) as con:
        window = Window(*con.execute("select min(window_start), max(window_end) from loads").fetchone())
        assert idle_share(con, "default", window)["idle_share"] == pytest.approx(2 / 4)
