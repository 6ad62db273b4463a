"""Recommendation rules on small hand-built worlds, given raw rows -> expected records.

Every world: one day, 2026-11-02, hourly steps (step_seconds = 3600), the whole node price on
its GPUs (gpu_share 1.0) and price overrides that make GPU-hours round:
  g5.xlarge  $1/h   (1 A10G, 22888 MiB)   -> $1 per GPU-hour
  g6.xlarge  $1/h   (1 L4,   22888 MiB)   -> $1 per GPU-hour
  g5.12xlarge $4/h  (4 A10G)              -> $1 per GPU-hour
  p4d.24xlarge $16/h (8 A100 40GB)        -> $2 per GPU-hour
  p5.48xlarge $40/h (8 H100 80GB)         -> $5 per GPU-hour
The window is the day: 24 h, so a month (720 h) is 30 x the window's saving.
Each test's expected records are in the table at its top (computed by hand).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pyarrow as pa
import pytest
import yaml

from gpucost.analytics.recommend import data_window, recommend
from gpucost.analytics.recommend.rules import commit, idle_reclaim, right_size_count, share, smaller_gpu, spot
from gpucost.build import build
from gpucost.ingest.loads import Window as LoadWindow, load_tables
from gpucost.settings import CostSplit
from gpucost.warehouse import open_warehouse

DAY0 = datetime(2026, 11, 2)
MODELS = {"g5": ("NVIDIA A10G", 22888), "g6": ("NVIDIA L4", 22888), "p4d": ("NVIDIA A100-SXM4-40GB", 40960),
          "p5": ("NVIDIA H100 80GB HBM3", 81920)}
OVERRIDES = {"g5.xlarge": 1.0, "g6.xlarge": 1.0, "g5.12xlarge": 4.0, "p4d.24xlarge": 16.0, "p5.48xlarge": 40.0}
LABELS = pa.map_(pa.string(), pa.string())


def h(hours: float) -> datetime:
    return DAY0 + timedelta(hours=hours)


class World:
    """Raw rows of a hand-built world: nodes with GPUs, pods on them, hourly DCGM samples."""

    def __init__(self):
        self.nodes, self.devices, self.pods, self.samples, self.prices = [], [], [], [], []

    def node(self, name: str, itype: str, gpus: int, capacity: str = "on_demand", hours: range = range(24)):
        model, mem = MODELS[itype.split(".")[0]]
        self.nodes.append(dict(cluster="c", node=name, valid_from=h(hours.start), valid_to=h(hours.stop),
                               instance_type=itype, capacity_type=capacity, region="us-east-1", zone="us-east-1a",
                               gpu_model=model, gpu_count=gpus, cpu_cores=8.0, memory_bytes=64 * 2**30))
        for i in range(gpus):
            self.devices.append(dict(cluster="c", node=name, valid_from=h(hours.start), valid_to=h(hours.stop),
                                     device_id=f"{name}-g{i}", gpu_index=i, gpu_uuid=f"{name}-g{i}",
                                     gpu_model=model, mem_total_bytes=mem * 2**20))
            for t in hours:  # unallocated until a pod's samples replace them
                self.samples.append(dict(ts=h(t), cluster="c", node=name, gpu_uuid=f"{name}-g{i}", gpu_index=i,
                                         gpu_util=0.0, fb_used_mib=0.0, fb_free_mib=float(mem)))
        return [f"{name}-g{i}" for i in range(gpus)]

    def pod(self, ns: str, pod: str, node: str, devices: list[str], owner_kind: str, owner_name: str,
            hours: range = range(24), util=50.0, mem_mib: float = 2000.0, labels: dict | None = None,
            gpu_request: int | None = None, cpu: float | None = 2.0, memory_gib: float | None = 8.0):
        """util: a number, a list per device, or a function (device index, hour) -> %."""
        self.pods.append(dict(cluster="c", namespace=ns, pod=pod, node=node, valid_from=h(hours.start),
                              valid_to=h(hours.stop), gpu_request=gpu_request or len(devices), mig_profile=None,
                              devices=devices, owner_kind=owner_kind, owner_name=owner_name,
                              labels=list((labels or {}).items()), cpu_request_cores=cpu,
                              memory_request_bytes=int(memory_gib * 2**30) if memory_gib else None))
        for i, dev in enumerate(devices):
            for t in hours:
                u = util(i, t) if callable(util) else (util[i] if isinstance(util, list) else util)
                for s in self.samples:
                    if s["gpu_uuid"] == dev and s["ts"] == h(t):
                        s.update(gpu_util=float(u), fb_used_mib=mem_mib, fb_free_mib=s["fb_free_mib"] - mem_mib,
                                 pod=pod, namespace=ns)

    def spot_price(self, itype: str, usd: float, at: float = -1):
        self.prices.append(dict(kind="spot", region="us-east-1", zone="us-east-1a", instance_type=itype,
                                effective_at=h(at), usd_per_hour=usd))

    def tables(self) -> list[tuple[str, pa.Table]]:
        pods = pa.Table.from_pylist(self.pods, schema=pa.schema([
            ("cluster", pa.string()), ("namespace", pa.string()), ("pod", pa.string()), ("node", pa.string()),
            ("valid_from", pa.timestamp("us")), ("valid_to", pa.timestamp("us")), ("gpu_request", pa.int32()),
            ("mig_profile", pa.string()), ("devices", pa.list_(pa.string())), ("owner_kind", pa.string()),
            ("owner_name", pa.string()), ("labels", LABELS), ("cpu_request_cores", pa.float64()),
            ("memory_request_bytes", pa.int64())]))
        out = [("raw_nodes", pa.Table.from_pylist(self.nodes)), ("raw_gpu_devices", pa.Table.from_pylist(self.devices)),
               ("raw_dcgm_samples", pa.Table.from_pylist(self.samples))]
        return out + ([("raw_pod_allocations", pods)] if self.pods else [])


@pytest.fixture
def world_settings(settings):
    return replace(settings, step_seconds=3600, cost=CostSplit(gpu_share=1.0), price_overrides=OVERRIDES)


def built(settings, world: World):
    """Open the warehouse, load the world, build; returns the open connection's context."""
    ctx = open_warehouse(settings, create=True)
    con = ctx.__enter__()
    load_tables(con, "test", LoadWindow(DAY0, h(24)), world.tables())
    if world.prices:
        load_tables(con, "test", LoadWindow(h(-24), DAY0), [("raw_prices", pa.Table.from_pylist(world.prices))])
    build(con, settings)
    return ctx, con


def records(con, kind: str, params=None) -> dict[str, tuple]:
    """target -> (saving in the window USD, monthly USD, GPU-hours saved, confidence)."""
    window = data_window(con)
    assert window.hours == 24
    recs = recommend(con, window, params={kind: params} if params else None, only=[kind])
    return {r.target: (round(r.evidence["saving_in_window_usd"], 6), round(r.monthly_savings_usd, 6),
                       round(r.gpu_hours_saved, 6), r.confidence) for r in recs}


@pytest.fixture
def world_con(world_settings, request):
    ctx, con = built(world_settings, request.param())
    yield con
    ctx.__exit__(None, None, None)


# ---- idle-reclaim -----------------------------------------------------------------------------------
def idle_world() -> World:
    w = World()
    # alice-nb: active 00-06 and 18-24, idle 06-18 (one 12 h run)
    w.pod("ds", "alice-nb-0", "n1", w.node("n1", "g5.xlarge", 1), "Notebook", "alice-nb",
          util=lambda i, t: 0.0 if 6 <= t < 18 else 50.0)
    # web: idle 02-04 (a 2 h run) and 10-11 (1 h): 2 reclaimable GPU-hours, under the 4 GPU-hour minimum
    w.pod("shop", "web-abc-1", "n2", w.node("n2", "g5.xlarge", 1), "Deployment", "web",
          util=lambda i, t: 0.0 if t in (2, 3, 10) else 40.0)
    return w


@pytest.mark.parametrize("world_con", [idle_world], indirect=True)
def test_idle_reclaim(world_con):
    """| target               | idle GPU-h | window $ | monthly $ | confidence |
       | ds/Notebook/alice-nb | 12         | 12       | 360       | high (12 h run >= 6 h) |
       web: 2 h run (2 GPU-h < min 4) -> none; with min_idle_gpu_hours=1: 2 GPU-h, $2, $60, medium
       (the 1 h run at 10:00 never counts); with min_idle_run_hours=13: nothing."""
    assert records(world_con, "idle-reclaim") == {"ds/Notebook/alice-nb": (12.0, 360.0, 12.0, "high")}
    assert records(world_con, "idle-reclaim", idle_reclaim.Params(min_idle_gpu_hours=1)) == {
        "ds/Notebook/alice-nb": (12.0, 360.0, 12.0, "high"), "shop/Deployment/web": (2.0, 60.0, 2.0, "medium")}
    assert records(world_con, "idle-reclaim", idle_reclaim.Params(min_idle_run_hours=13)) == {}


# ---- right-size-count -------------------------------------------------------------------------------
def right_size_world() -> World:
    w = World()
    # embed: Job, 4 A10G at 60, 50, 10, 0 % -> work 120 % -> 2 GPUs at <= 80 %; drop g3 (unused), g2
    w.pod("ml", "embed-x1", "a", w.node("a", "g5.12xlarge", 4), "Job", "embed", util=[60, 50, 10, 0])
    # llm: PyTorchJob (gang), 8 A100, one never active -> 7
    w.pod("ml", "llm-master-0", "b", w.node("b", "p4d.24xlarge", 8), "PyTorchJob", "llm",
          util=[90] * 7 + [0], mem_mib=30000)
    # busy: Job, 2 GPUs at 90 % -> needs both
    w.pod("ml", "busy-y", "c", w.node("c", "g5.12xlarge", 4)[:2], "Job", "busy", util=90)
    return w


@pytest.mark.parametrize("world_con", [right_size_world], indirect=True)
def test_right_size_count(world_con):
    """| target                | GPUs    | dropped   | window $      | monthly $ | confidence |
       | ml/Job/embed          | 4 -> 2  | a-g3 a-g2 | 2 x 24 x $1   = 48 | 1440 | medium (a-g2 was active) |
       | ml/PyTorchJob/llm     | 8 -> 7  | b-g7      | 24 x $2       = 48 | 1440 | high (never active)      |
       busy: 2 x 90 % needs 2 GPUs -> none. target_util_pct=50: embed needs min(3, ceil(120/50)) = 3
       -> 4 -> 3, drops a-g3 only: $24, $720, high."""
    assert records(world_con, "right-size-count") == {
        "ml/Job/embed": (48.0, 1440.0, 48.0, "medium"), "ml/PyTorchJob/llm": (48.0, 1440.0, 24.0, "high")}
    assert records(world_con, "right-size-count", right_size_count.Params(target_util_pct=50)) == {
        "ml/Job/embed": (24.0, 720.0, 24.0, "high"), "ml/PyTorchJob/llm": (48.0, 1440.0, 24.0, "high")}


# ---- share ------------------------------------------------------------------------------------------
def share_world() -> World:
    w = World()
    # nb-small: whole A100 40GB at 10 %, 6000 MiB -> needs 7200 MiB and 12.5 % of the GPU: MIG 1g.10gb
    w.pod("ds", "nb-small-0", "p", w.node("p", "p4d.24xlarge", 8)[:1], "Notebook", "nb-small", util=10, mem_mib=6000)
    # tiny: L4 at 20 %, 5000 MiB -> time-slicing k = min(4, floor(22888/6000)=3, floor(100/25)=4) = 3
    w.pod("web", "tiny-abc-1", "l", w.node("l", "g6.xlarge", 1), "Deployment", "tiny", util=20, mem_mib=5000)
    # hot: A10G at 90 % -> none
    w.pod("web", "hot-abc-1", "g", w.node("g", "g5.xlarge", 1), "Deployment", "hot", util=90, mem_mib=5000)
    return w


@pytest.mark.parametrize("world_con", [share_world], indirect=True)
def test_share(world_con):
    """| target                | method              | fraction | window $            | monthly $ | GPU-h   | conf |
       | ds/Notebook/nb-small  | MIG 1g.10gb (1/7)   | 6/7      | 6/7 x 24 x $2 = 41.142857 | 1234.285714 | 20.571429 | high |
       | web/Deployment/tiny   | time-slicing, 3     | 2/3      | 2/3 x 24 x $1 = 16  | 480       | 16      | low  |
       max_util_p95_pct=15 keeps only nb-small."""
    got = records(world_con, "share")
    assert got == {"ds/Notebook/nb-small": (41.142857, 1234.285714, 20.571429, "high"),
                   "web/Deployment/tiny": (16.0, 480.0, 16.0, "low")}
    assert records(world_con, "share", share.Params(max_util_p95_pct=15)).keys() == {"ds/Notebook/nb-small"}
    (mig,) = [r for r in recommend(world_con, data_window(world_con), only=["share"]) if r.target.startswith("ds/")]
    docs = list(yaml.safe_load_all(mig.patch))
    limits = docs[0]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"nvidia.com/gpu": None, "nvidia.com/mig-1g.10gb": 1}
    (request,) = docs[1]["spec"]["spec"]["devices"]["requests"]
    assert docs[1]["kind"] == "ResourceClaimTemplate" and request["exactly"]["deviceClassName"] == "mig.nvidia.com"


# ---- smaller-gpu ------------------------------------------------------------------------------------
def smaller_world() -> World:
    w = World()
    # eval: A10G at 40 %, 10000 MiB. T4 (g4dn.xlarge $0.526): 40 x 125/65 = 76.9 % <= 80, 16384 MiB >= 12000
    # -> ratio 0.526/1.006 = 0.522863 (catalog list prices per GPU)
    w.pod("ml", "eval-z", "g", w.node("g", "g5.xlarge", 1), "Job", "eval", util=40, mem_mib=10000)
    # hot: A10G at 90 % -> fits nothing cheaper
    w.pod("ml", "hot-z", "h", w.node("h", "g5.xlarge", 1), "Job", "hot", util=90, mem_mib=10000)
    return w


@pytest.mark.parametrize("world_con", [smaller_world], indirect=True)
def test_smaller_gpu(world_con):
    """| target      | to           | ratio                  | window $                     | monthly $  | conf |
       | ml/Job/eval | g4dn.xlarge  | 0.526/1.006 = 0.522863 | (1 - 0.522863) x 24 = 11.451292 | 343.538767 | low (T4 slower) |
       max_target_util_pct=70 rules T4 out (76.9 %): g6.xlarge (L4, 41.3 %), ratio 0.8048/1.006 = 0.8
       -> 4.8, 144, low (L4 121 < A10 125 TFLOPS)."""
    ratio = 0.526 / 1.006
    saving = (1 - ratio) * 24
    assert records(world_con, "smaller-gpu") == {"ml/Job/eval": (round(saving, 6), round(saving * 30, 6), 0.0, "low")}
    assert records(world_con, "smaller-gpu", smaller_gpu.Params(max_target_util_pct=70)) == {
        "ml/Job/eval": (4.8, 144.0, 0.0, "low")}


# ---- spot -------------------------------------------------------------------------------------------
def spot_world() -> World:
    w = World()
    for i in range(2):  # api: 2 replicas on on-demand g5.xlarge
        w.pod("web", f"api-abc-{i}", f"a{i}", w.node(f"a{i}", "g5.xlarge", 1), "Deployment", "api", util=60)
    w.pod("web", "single-abc-1", "s", w.node("s", "g5.xlarge", 1), "Deployment", "single", util=60)
    w.pod("ml", "ft-master-0", "p", w.node("p", "p4d.24xlarge", 8), "PyTorchJob", "ft", util=60,
          labels={"gpucost.io/checkpoint": "true"})
    r = w.node("r", "g5.xlarge", 1)  # retry: a Job whose first pod failed at 06:00 and was retried
    w.pod("ml", "retry-1", "r", r, "Job", "retry", hours=range(0, 6), labels={"batch.kubernetes.io/job-name": "retry"})
    w.pod("ml", "retry-2", "r", r, "Job", "retry", hours=range(6, 12), labels={"batch.kubernetes.io/job-name": "retry"})
    w.pod("ml", "once-1", "o", w.node("o", "g5.xlarge", 1), "Job", "once", util=60)
    w.spot_price("g5.xlarge", 0.503)  # half the catalog's on-demand $1.006
    return w


@pytest.mark.parametrize("world_con", [spot_world], indirect=True)
def test_spot(world_con):
    """| target              | why               | saving fraction                 | window $         | monthly $ | conf |
       | web/Deployment/api  | 2 replicas        | 1 - 0.503/1.006 = 0.5 (history) | 0.5 x 48 = 24    | 720       | low (g5.xlarge >20%) |
       | ml/PyTorchJob/ft    | checkpoint label  | 0.67 (Spot Advisor p4d)         | 0.67 x 384 = 257.28 | 7718.4 | medium (10-15%) |
       | ml/Job/retry        | retried           | 0.5                             | 0.5 x 12 = 6     | 180       | low |
       single (1 replica) and once (never retried): none. min_replicas=3 drops api;
       max_interruption_index=2 keeps only ft."""
    assert records(world_con, "spot") == {"web/Deployment/api": (24.0, 720.0, 0.0, "low"),
                                          "ml/PyTorchJob/ft": (257.28, 7718.4, 0.0, "medium"),
                                          "ml/Job/retry": (6.0, 180.0, 0.0, "low")}
    assert records(world_con, "spot", spot.Params(min_replicas=3)).keys() == {"ml/PyTorchJob/ft", "ml/Job/retry"}
    assert records(world_con, "spot", spot.Params(max_interruption_index=2)).keys() == {"ml/PyTorchJob/ft"}


# ---- commit -----------------------------------------------------------------------------------------
def commit_world() -> World:
    w = World()
    w.node("h1", "p5.48xlarge", 8)                       # 8 on-demand H100 all day
    w.node("h2", "p5.48xlarge", 8, hours=range(0, 6))    # 8 more for 6 hours
    w.node("s1", "g5.xlarge", 1, capacity="spot")        # spot: never committed
    return w


@pytest.mark.parametrize("world_con", [commit_world], indirect=True)
def test_commit(world_con):
    """Hourly on-demand p5 GPUs: 16 for 6 h, 8 for 18 h -> p10 = 8; $5 per GPU-hour;
       pool = 8 x 24 x 5 + 8 x 6 x 5 = $1200; committed = 8 x 24 x $5 = $960.
       | target               | window $           | monthly $ | conf |
       | instance-family/p5   | 0.25 x 960 = 240   | 7200      | low (1-day window) |
       The default min_window_hours (48) refuses a 24 h window; min_baseline_gpus=9 too."""
    assert records(world_con, "commit") == {}
    assert records(world_con, "commit", commit.Params(min_window_hours=24)) == {
        "instance-family/p5": (240.0, 7200.0, 0.0, "low")}
    assert records(world_con, "commit", commit.Params(min_window_hours=24, min_baseline_gpus=9)) == {}


# ---- precedence: one job, four rules, no GPU-hour saved twice ----------------------------------------
def stacked_world() -> World:
    w = World()
    for i in range(2):  # api: 2 replicas, idle 00-12, 10 % 12-24, 2000 MiB, on-demand g5.xlarge
        w.pod("web", f"api-abc-{i}", f"a{i}", w.node(f"a{i}", "g5.xlarge", 1), "Deployment", "api",
              util=lambda d, t: 0.0 if t < 12 else 10.0)
    return w


@pytest.mark.parametrize("world_con", [stacked_world], indirect=True)
def test_precedence_never_counts_a_gpu_hour_twice(world_con):
    """The job costs 2 x 24 x $1 = $48 in the window.
       | kind          | claim                                      | window $ | left $ | GPU-h |
       | idle-reclaim  | idle 00-12 on both GPUs                     | 24       | 24     | 24    |
       | share         | time-slicing k = min(4, 9, 8) = 4: 3/4 of left | 18    | 6      | 18    |
       | smaller-gpu   | same group as share -> skipped              | -        | 6      |       |
       | spot          | Spot Advisor g5.xlarge 59 % of left         | 3.54     | 2.46   | 0     |
       | commit        | baseline 2 GPUs, committed $48, left $2.46: 25 % x 2.46 | 0.615 | | 0 |
       Total $46.155 <= $48."""
    window = data_window(world_con)
    recs = recommend(world_con, window, params={"commit": commit.Params(min_window_hours=24)})
    got = [(r.kind, r.target, round(r.evidence["saving_in_window_usd"], 6), round(r.gpu_hours_saved, 6)) for r in recs]
    assert got == [("idle-reclaim", "web/Deployment/api", 24.0, 24.0), ("share", "web/Deployment/api", 18.0, 18.0),
                   ("spot", "web/Deployment/api", 3.54, 0.0), ("commit", "instance-family/g5", 0.615, 0.0)]
    assert sum(r.evidence["saving_in_window_usd"] for r in recs) <= 48.0


# ---- the framework ----------------------------------------------------------------------------------
def test_rules_are_discovered_in_precedence_order():
    from gpucost.analytics.recommend import load_rules

    order = [r.kind for r in load_rules()]
    mine = ["idle-reclaim", "right-size-count", "share", "smaller-gpu", "spot", "commit"]
    assert [k for k in order if k in mine] == mine
    for r in load_rules():
        assert r.params.__dataclass_params__.frozen, r.kind


def test_ids_are_stable_hashes_of_kind_target_and_window():
    from gpucost.analytics.recommend.model import Window, evidence_json, recommendation_id

    w = Window(DAY0, h(24))
    assert recommendation_id("spot", "ns/Deployment/a", w, "c") == recommendation_id("spot", "ns/Deployment/a", w, "c")
    assert len({recommendation_id(k, t, w, "c") for k in ("spot", "share") for t in ("ns/Job/a", "ns/Job/b")}) == 4
    assert recommendation_id("spot", "ns/Job/a", w) != recommendation_id("spot", "ns/Job/a", Window(DAY0, h(23)))
    assert evidence_json({"b": 1 / 3, "a": [float("nan")]}) == '{"a":[null],"b":0.333333}'
