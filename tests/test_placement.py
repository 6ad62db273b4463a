"""Placement what-if (gpucost.analytics.placement) on small hand-built worlds.

FRAGMENTATION WORLD. Task distribution M (weights; total W = 5):
  t1  CPU-only, 4000 mCPU                                    w 1
  t2  sharing: 1 x 500 mGPU, 8000 mCPU                       w 2
  t3  1 whole GPU (1 x 1000), 8000 mCPU                      w 1
  t4  2 whole GPUs (2 x 1000), 8000 mCPU, only on V100M32    w 1
F_n = sum_m w_m x frag_n(m) / W, where frag_n(m) = free mGPU on devices smaller than m's
per-device request if m fits on n (model, CPU, enough devices), else all free mGPU of n (always
for t1). Nodes (model V100M32 unless said; cpu = free mCPU; free mGPU per device):
  node  cpu    devices                 t1    t2 (x2)        t3           t4           sum    F
  A     32000  1000 1000               2000  fits 0         fits 0       fits 0       2000   400
  B     32000  300 1000                1300  fits 300 ->600 fits 300     1300 (1 full)3500   700
  C     4000   1000 1000  (CPU short)  2000  2000 ->4000    2000         2000         10000  2000
  D     32000  600 400                 1000  fits 400 ->800 1000         1000         3800   760
  E     32000  0 0                     0     0              0            0            0      0
  F     32000  1000 1000 (model T4)    2000  fits 0         fits 0       2000 (model) 4000   800
  G     32000  1000 1000 1000 700      3700  fits 0         fits 700     fits 700     5100   1020

POLICY WORLD (node index = tie order). Pod P: 32000 mCPU, 1000 MiB, 1 x 500 mGPU (sharing).
  node  cpu    devices             GPU pods hosted
  n0    32000  1000 300 700 300    3 sharing
  n1    64000  500 0               1 sharing, 1 one-GPU
  n2    48000  1000                none
  n3    96000  700                 1 sharing
Scores (c = free CPU, G = free mGPU; P asks 32000 and 500):
  best-fit  trunc(100 (1 - 0.5 (c-32000)/128000 - 0.5 (G-500)/8000))
            n0: 1 - 0 - 0.1125 -> 88; n1: 1 - 0.125 - 0 -> 87; n2: 1 - 0.0625 - 0.03125 -> 90;
            n3: 1 - 0.25 - 0.0125 -> 73                                          => n2, device 0
  dot       trunc(100 (1 - (c/128000 x 0.25 + G/8000 x 0.0625) / 2))
            n0: dot 0.0625 + 0.01796875 -> 95; n1: 0.125 + 0.00390625 -> 93;
            n2: 0.09375 + 0.0078125 -> 94; n3: 0.1875 + 0.00546875 -> 90     => n0, device 2 (700)
  packing   tightest fitting device d: partly used -> 100 - floor(floor(d x 100/1000)/10);
            all devices free -> max(33 - free devices, free devices)
            n0: d 700 -> 93; n1: d 500 -> 95; n2: all free -> 32; n3: d 700 -> 93  => n1, device 0
  clustering floor(25 (8000 - G)/8000) + 75 (only sharing pods) / 50 (mixed) / 25 (no GPU pod)
            n0: 17 + 75 = 92; n1: 23 + 50 = 73; n2: 21 + 25 = 46; n3: 22 + 75 = 97  => n3, device 0
  fgd       trunc(100 sigmoid((W F before - W F after) / W / 1000)), M = t1 w1, t2 w2, t3 w1 (W 4):
            n0: 4800 -> 7200 (CPU gone: nothing fits) -> sigmoid(-0.6) -> 35;
            n1: 1000 -> 0 -> sigmoid(0.25) -> 56; n2: 1000 -> 1000 -> 50;
            n3: 1400 -> 800 -> sigmoid(0.15) -> 53                              => n1, device 0
FGD DEVICE CHOICE. Node cpu 64000, devices 600 1000; pod 8000 mCPU, 1 x 500; M = t1 w1,
t2 w3 (W 4). Before: 1600 + 3 x 0 = 1600. On device 0 -> (100, 1000): 1100 + 3 x 100 = 1400,
sigmoid(0.05) -> 51. On device 1 -> (600, 500): 1100 + 0 = 1100, sigmoid(0.125) -> 53.
FGD takes device 1; best fit takes device 0 (600 is the tightest fit).
"""

from __future__ import annotations

import numpy as np
import pytest

from gpucost.analytics.placement import (
    POLICIES, ClusterState, NodeInventory, PodRequest, TaskDistribution, Workload, fragmentation,
    percent_rows, simulate)
from gpucost.analytics.placement.placer import Placer
from gpucost.analytics.placement.protocol import arrival_order, random_streams
from gpucost.errors import GpucostError
from gpucost.ingest.alibaba import read_nodes, read_pods


def cluster(rows: list[tuple[int, list[int], str]], mem: int = 10**6) -> ClusterState:
    """A ClusterState from (free mCPU, free mGPU per device, model) per node."""
    width = max(len(r[1]) for r in rows)
    free = np.zeros((len(rows), width), dtype=np.int64)
    for i, (_, devices, _) in enumerate(rows):
        free[i, :len(devices)] = devices
    models = tuple(sorted({r[2] for r in rows}))
    return ClusterState(cpu_free=np.array([r[0] for r in rows]), mem_free=np.full(len(rows), mem),
                        gpu_free=free, gpu_count=np.array([len(r[1]) for r in rows]),
                        model_id=np.array([models.index(r[2]) for r in rows]), models=models)


FRAG_TASKS = TaskDistribution(cpu_milli=[4000, 8000, 8000, 8000], gpu_milli=[0, 500, 1000, 1000],
                              num_gpu=[0, 1, 1, 2], gpu_spec=[(), (), (), ("V100M32",)], weight=[1, 2, 1, 1])
FRAG_NODES = {  # name: (cpu, devices, model, expected F in mGPU)
    "A": (32000, [1000, 1000], "V100M32", 400),
    "B": (32000, [300, 1000], "V100M32", 700),
    "C": (4000, [1000, 1000], "V100M32", 2000),
    "D": (32000, [600, 400], "V100M32", 760),
    "E": (32000, [0, 0], "V100M32", 0),
    "F": (32000, [1000, 1000], "T4", 800),
    "G": (32000, [1000, 1000, 1000, 700], "V100M32", 1020),
}


def test_fragmentation_matches_hand_table():
    state = cluster([(cpu, devices, model) for cpu, devices, model, _ in FRAG_NODES.values()])
    got = fragmentation(state, FRAG_TASKS)
    assert got.tolist() == pytest.approx([f for *_, f in FRAG_NODES.values()])


def test_typical_pods_keep_the_smallest_prefix_covering_95_pct():
    # shapes X x10, Y x6, Z x3, V x1 (20 pods): 10, 16, 19 >= 19 -> X, Y, Z kept, V dropped
    shapes = [(8000, 1000, 1)] * 10 + [(4000, 500, 1)] * 6 + [(2000, 0, 0)] * 3 + [(1000, 250, 1)]
    wl = Workload(name=[f"p{i}" for i in range(20)], cpu_milli=[s[0] for s in shapes],
                  memory_mib=[1] * 20, num_gpu=[s[2] for s in shapes], gpu_milli=[s[1] for s in shapes])
    tasks = TaskDistribution.from_workload(wl)
    assert tasks.weight.tolist() == [10, 6, 3]
    assert tasks.cpu_milli.tolist() == [8000, 4000, 2000]
    assert tasks.popularity.sum() == pytest.approx(1.0)
    # equal counts: the larger shape (more CPU) first
    wl2 = Workload(name=["a", "b"], cpu_milli=[1000, 9000], memory_mib=[1, 1], num_gpu=[1, 1], gpu_milli=[500, 500])
    assert TaskDistribution.from_workload(wl2, popularity_pct=50).cpu_milli.tolist() == [9000]


POLICY_WORLD = [(32000, [1000, 300, 700, 300], "X"), (64000, [500, 0], "X"), (48000, [1000], "X"),
                (96000, [700], "X")]
POD_P = PodRequest(cpu_milli=32000, memory_mib=1000, num_gpu=1, gpu_milli=500)
THREE_TASKS = TaskDistribution(cpu_milli=[4000, 8000, 8000], gpu_milli=[0, 500, 1000], num_gpu=[0, 1, 1],
                               gpu_spec=(), weight=[1, 2, 1])
EXPECTED = {  # policy: (scores n0..n3, chosen node, devices)
    "best-fit": ([88, 87, 90, 73], 2, (0,)),
    "dot-product": ([95, 93, 94, 90], 0, (2,)),
    "gpu-packing": ([93, 95, 32, 93], 1, (0,)),
    "gpu-clustering": ([92, 73, 46, 97], 3, (0,)),
    "fgd": ([35, 56, 50, 53], 1, (0,)),
}


def policy_world_placer(policy: str) -> Placer:
    placer = Placer(cluster(POLICY_WORLD), policy, THREE_TASKS)
    placer.affinity[0, 0] = 3                       # n0: three sharing pods
    placer.affinity[1, 0] = placer.affinity[1, 1] = 1   # n1: a sharing and a one-GPU pod
    placer.affinity[3, 0] = 1                       # n3: one sharing pod
    return placer


@pytest.mark.parametrize("policy", sorted(EXPECTED))
def test_policy_scores_and_choice(policy):
    scores, node, devices = EXPECTED[policy]
    placer = policy_world_placer(policy)
    assert placer.scores(POD_P, np.arange(4)).tolist() == scores
    assert placer.place(POD_P) == (node, devices)
    assert placer.state.gpu_free[node, devices[0]] == np.array(POLICY_WORLD[node][1])[devices[0]] - 500
    assert placer.state.cpu_free[node] == POLICY_WORLD[node][0] - 32000


def test_random_policy_picks_a_feasible_node_reproducibly():
    picks = {Placer(cluster(POLICY_WORLD), "random", THREE_TASKS, rng=np.random.default_rng(s)).choose(POD_P)
             for s in range(30)}
    assert {node for node, _ in picks} == {0, 1, 2, 3}
    for node, (device,) in picks:
        assert POLICY_WORLD[node][1][device] >= 500
    again = Placer(cluster(POLICY_WORLD), "random", THREE_TASKS, rng=np.random.default_rng(7)).choose(POD_P)
    assert again == Placer(cluster(POLICY_WORLD), "random", THREE_TASKS, rng=np.random.default_rng(7)).choose(POD_P)


def test_fgd_picks_the_device_that_fragments_least():
    tasks = TaskDistribution(cpu_milli=[4000, 8000], gpu_milli=[0, 500], num_gpu=[0, 1], gpu_spec=(), weight=[1, 3])
    pod = PodRequest(cpu_milli=8000, memory_mib=1, num_gpu=1, gpu_milli=500)
    fgd = Placer(cluster([(64000, [600, 1000], "X")]), "fgd", tasks)
    assert fgd.scores(pod, np.array([0])).tolist() == [53]
    assert fgd.choose(pod) == (0, (1,))
    assert Placer(cluster([(64000, [600, 1000], "X")]), "best-fit", tasks).choose(pod) == (0, (0,))


def test_infeasible_pods_and_model_constraints():
    placer = Placer(cluster([(16000, [1000, 1000], "T4"), (64000, [1000], "V100M32")]), "best-fit", THREE_TASKS)
    assert placer.choose(PodRequest(32000, 1, 1, 500, ("T4",))) is None          # T4 node lacks CPU
    assert placer.choose(PodRequest(8000, 1, 2, 1000)) == (0, (0, 1))             # only n0 has 2 GPUs
    assert placer.choose(PodRequest(8000, 1, 1, 1000, ("V100M32",)))[0] == 1
    assert placer.choose(PodRequest(8000, 10**7, 0, 0)) is None                  # memory


# ---- protocol -----------------------------------------------------------------------------

def tiny_inventory() -> NodeInventory:
    return NodeInventory(name=["a", "b", "c"], cpu_milli=[32000, 32000, 16000], memory_mib=[65536] * 3,
                         gpu_count=[2, 2, 1], gpu_model=["T4", "T4", "V100M32"])


def tiny_workload() -> Workload:
    # GPU request 500 + 1000 + 2000 + 300 = 3800 mGPU; capacity 5 GPUs = 5000 mGPU
    return Workload(name=["s1", "w1", "w2", "s2", "cpu", "huge"],
                    cpu_milli=[4000, 8000, 8000, 2000, 4000, 64000], memory_mib=[1024] * 6,
                    num_gpu=[1, 1, 2, 1, 0, 0], gpu_milli=[500, 1000, 1000, 300, 0, 0])


def test_inflation_keeps_every_trace_pod_and_reaches_the_target():
    wl = tiny_workload()
    order = arrival_order(wl, 5000, 1.3, random_streams(3))
    assert sorted(order[:len(wl)].tolist()) == list(range(len(wl)))     # all trace pods, shuffled
    requested = wl.total_gpu_milli[order]
    assert requested.sum() >= 1.3 * 5000                                 # reaches >= 130 %
    assert requested[:-1].sum() < 1.3 * 5000                             # and stops right there
    assert arrival_order(wl, 5000, 0.5, random_streams(3)).size == len(wl)   # already above: no draws


def test_replay_is_deterministic_by_seed_and_counts_skipped_pods():
    nodes, wl = tiny_inventory(), tiny_workload()
    a = simulate(nodes, wl, "fgd", inflation=1.3, seed=5)
    b = simulate(nodes, wl, "fgd", inflation=1.3, seed=5)
    assert np.array_equal(a.pod_row, b.pod_row) and np.array_equal(a.pod_node, b.pod_node)
    assert a.rows == b.rows
    assert not np.array_equal(a.pod_row, simulate(nodes, wl, "fgd", inflation=1.3, seed=6).pod_row)
    huge = np.flatnonzero(a.pod_row == 5)                  # 64000 mCPU fits no node
    assert huge.size >= 1 and (a.pod_node[huge] == -1).all()
    assert a.n_skipped >= huge.size and a.n_placed + a.n_skipped == a.n_offered
    assert a.arrived_gpu_milli[-1] >= 1.3 * 5000 > a.used_gpu_milli[-1]
    assert a.used_gpu_milli[-1] == a.final_state.used_gpu_milli
    # fragmentation kept incrementally equals a fresh computation on the final state
    assert fragmentation(a.final_state, TaskDistribution.from_workload(wl)).sum() == pytest.approx(a.frag_gpu_milli[-1])
    assert a.rows[-1].arrived_workload_pct >= 130
    placed = a.pod_node >= 0
    assert (np.diff(a.used_gpu_milli)[~placed[1:]] == 0).all()            # skipped pods add nothing


@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_respects_capacity(policy):
    res = simulate(tiny_inventory(), tiny_workload(), policy, seed=1)
    state = res.final_state
    assert (state.cpu_free >= 0).all() and (state.mem_free >= 0).all() and (state.gpu_free >= 0).all()
    for k in np.flatnonzero(res.pod_node >= 0):
        pod = res.pod_row[k]
        assert len(res.pod_gpus[k]) == tiny_workload().num_gpu[pod]


def test_percent_rows_average_per_integer_percent():
    # 1 GPU (1000 mGPU): arrived % = round(arrived / 10), alloc % = used / 10
    rows = percent_rows(np.array([0, 0, 400, 1000, 1000]), np.array([0, 0, 400, 400, 900]),
                        np.array([10.0, 20.0, 30.0, 40.0, 50.0]), total_gpus=1)
    by_pct = {r.arrived_workload_pct: r for r in rows}
    assert by_pct[0].gpu_alloc_pct == 0 and by_pct[0].frag_gpu_milli == 15.0
    assert by_pct[40].gpu_alloc_pct == 40.0
    assert by_pct[41].gpu_alloc_pct == 40.0             # no pod at 41 %: pods within 40..42
    assert by_pct[100].gpu_alloc_pct == 65.0 and by_pct[100].frag_gpu_milli == 45.0
    assert 50 not in by_pct and sorted(by_pct) == [0, 1, 39, 40, 41, 99, 100]


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown policy"):
        simulate(tiny_inventory(), tiny_workload(), "first-fit")
    with pytest.raises(ValueError, match="whole"):
        Workload(name=["x"], cpu_milli=[1], memory_mib=[1], num_gpu=[2], gpu_milli=[500])


# ---- reading the trace files --------------------------------------------------------------

NODE_CSV = "sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,2,P100\nn1,32000,131072,0,\n"
POD_CSV = ("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,"
           "scheduled_time\n"
           "p0,12000,16384,1,1000,,LS,Running,0,12537496,0\n"
           "p1,6000,12288,1,460,V100M16|V100M32,LS,Running,1,2,1\n"
           "p2,4000,8192,0,0,,BE,Failed,1,2,1\n")


def test_read_trace_files(tmp_path):
    (tmp_path / "n.csv").write_text(NODE_CSV)
    (tmp_path / "p.csv").write_text(POD_CSV)
    nodes = read_nodes(tmp_path / "n.csv")
    assert nodes.name == ("n0", "n1") and nodes.gpu_count.tolist() == [2, 0] and nodes.gpu_model == ("P100", "")
    pods = read_pods(tmp_path / "p.csv")
    assert pods.gpu_milli.tolist() == [1000, 460, 0]
    assert pods.gpu_spec == ((), ("V100M16", "V100M32"), ())
    (tmp_path / "m.csv").write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1000,10,8,1000\n")
    assert read_pods(tmp_path / "m.csv").num_gpu.tolist() == [8]      # multigpu files lack gpu_spec


@pytest.mark.parametrize("text, message", [
    ("name,cpu_milli,memory_mib,num_gpu\np,1,1,0\n", "missing column(s) gpu_milli"),
    ("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,-5,1,0,0\n", "line 2: cpu_milli must not be negative"),
    ("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,0,0\nq,abc,1,0,0\n", "line 3: cpu_milli must be a whole"),
    ("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,1,1500\n", "line 2: gpu_milli must be 1..1000"),
    ("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,2,500\n", "line 2: a pod with 2 GPUs must take whole"),
    ("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1\n", "line 2: expected 5 fields"),
    ("", "empty file"),
])
def test_pod_file_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "pods.csv"
    path.write_text(text)
    with pytest.raises(GpucostError) as err:
        read_pods(path)
    assert str(path) in str(err.value) and message in str(err.value) and "\n" not in str(err.value)


def test_node_file_errors(tmp_path):
    with pytest.raises(GpucostError, match="cannot read"):
        read_nodes(tmp_path / "absent.csv")
    (tmp_path / "n.csv").write_text("sn,cpu_milli,memory_mib,gpu,model\nn0,64000,1.5,2,P100\n")
    with pytest.raises(GpucostError, match=r"n\.csv: line 2: memory_mib must be a whole number, got '1.5'"):
        read_nodes(tmp_path / "n.csv")
