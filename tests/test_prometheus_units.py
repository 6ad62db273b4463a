"""Pure parts of the Prometheus collector: label conventions, response parsing, windows,
the per-window pivot. No Prometheus needed."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import orjson
import pytest

from gpucost.errors import GpucostError
from gpucost.ingest.loads import Window
from gpucost.ingest.prometheus.dcgm import dcgm_window, series_identity
from gpucost.ingest.prometheus.kube import capacity_type, label_restorer, mig_profile
from gpucost.ingest.prometheus.matrix import Matrix, _parse_matrix_fast, _parse_matrix_plain, parse_matrix
from gpucost.ingest.prometheus.queries import DCGM_FIELDS, KSM_NODE_INFO, STORED_FIELDS, duration, render
from gpucost.ingest.prometheus.windows import Grid, plan_windows, to_ms

BASE = {"gpu": "0", "UUID": "GPU-1", "device": "nvidia0", "modelName": "NVIDIA H100 80GB HBM3"}


@pytest.mark.parametrize("labels, node, pod", [
    ({**BASE, "Hostname": "n1"}, "n1", None),
    ({**BASE, "hostname": "n2"}, "n2", None),                                   # newer exporters
    ({**BASE, "Hostname": "n1", "pod": "p", "namespace": "ns", "container": "c"}, "n1", ("ns", "p", "c")),
    ({**BASE, "Hostname": "n1", "pod_name": "p", "pod_namespace": "ns", "container_name": "c"}, "n1", ("ns", "p", "c")),
    ({**BASE, "Hostname": "n1", "pod": "nvidia-dcgm-exporter-x", "namespace": "gpu-operator",
      "container": "nvidia-dcgm-exporter"}, "n1", None),                        # the exporter's own target labels
    ({**BASE, "node": "n3"}, "n3", None),                                       # relabelled node only
])
def test_node_and_pod_labels(labels, node, pod):
    i = series_identity(labels, exported=False)
    assert i.node == node and (i.namespace, i.pod, i.container) == (pod or (None, None, None))


def test_exported_labels_win_when_prometheus_renamed_them():
    labels = {**BASE, "Hostname": "n1", "pod": "dcgm-exporter-abc", "namespace": "monitoring",
              "exported_pod": "train-0", "exported_namespace": "ml", "exported_container": "main"}
    assert (series_identity(labels, exported=True).pod, series_identity(labels, exported=True).namespace) == \
        ("train-0", "ml")
    assert series_identity({**BASE, "Hostname": "n1", "pod": "dcgm-exporter-abc"}, exported=True).pod is None


def test_mig_vgpu_and_dra_labels():
    mig = series_identity({**BASE, "Hostname": "n", "GPU_I_ID": "9", "GPU_I_PROFILE": "1g.5gb"}, False)
    assert (mig.device_id, mig.mig_profile) == ("GPU-1/9", "1g.5gb")
    dra_mig = series_identity({**BASE, "Hostname": "n", "GPU_I_ID": "3", "dra_mig_profile": "3g.40gb"}, False)
    assert dra_mig.mig_profile == "3g.40gb"
    vgpu = series_identity({"gpu": "0", "UUID": "GPU-b65409f1-9131-4932-bbf9-065400000000", "device": "nvidia0",
                            "modelName": "GRID A100-40C", "Hostname": "vks-node", "vgpu": "1"}, False)
    assert (vgpu.model, vgpu.device_id) == ("GRID A100-40C", "GPU-b65409f1-9131-4932-bbf9-065400000000")
    dra = {**BASE, "Hostname": "n", "dra_claim_name": "pod-x-gpu-abcde", "dra_claim_namespace": "team",
           "dra_driver_name": "gpu.nvidia.com", "dra_pool_name": "n", "dra_device_name": "gpu-0"}
    assert series_identity(dra, False).pod is None
    assert series_identity(dra, False, {("team", "pod-x-gpu-abcde"): ("team", "pod-x")}).pod == "pod-x"
    assert series_identity({**BASE, "Hostname": "n", "device": "nvidia5", "gpu": ""}, False).gpu_index == 5
    assert series_identity({"gpu": "0", "Hostname": "n"}, False) is None               # no UUID


def body(series: list[tuple[dict, list]]) -> bytes:
    return orjson.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": m, "values": v} for m, v in series]}})


def test_parse_matrix_columns_nan_inf_and_errors():
    m = parse_matrix(body([({"a": "1"}, [[1.5, "1"], [2.5, "NaN"]]),
                           ({"a": "2"}, [[1.5, "+Inf"], [2.5, "-Inf"]])]), "q")
    assert m.labels == [{"a": "1"}, {"a": "2"}] and m.series.tolist() == [0, 0, 1, 1]
    assert m.ts.tolist() == [1500, 2500, 1500, 2500]
    assert m.values[0] == 1 and np.isnan(m.values[1]) and m.values[2] == np.inf and m.values[3] == -np.inf
    with pytest.raises(GpucostError, match="q: Prometheus answered bad_data: parse error"):
        parse_matrix(b'{"status":"error","errorType":"bad_data","error":"parse error"}', "q")
    with pytest.raises(GpucostError, match="malformed series 0"):
        parse_matrix(body([({}, [[1, "1", 3]])]), "q")
    with pytest.raises(GpucostError, match="not valid JSON"):
        parse_matrix(b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"', "q")
    warned = orjson.loads(body([]))
    warned["warnings"] = ["PromQL info: some warning"]
    assert parse_matrix(orjson.dumps(warned), "q").warnings == ["PromQL info: some warning"]


@pytest.mark.parametrize("series, fast", [
    ([({"a": "1", "b": "x"}, [[60, "1.5"], [120, "NaN"], [180, "+Inf"]]), ({"a": "2"}, [[120, "-Inf"]])], True),
    ([({"a": "1"}, []), ({"a": "2"}, [[60.25, "7e3"]]), ({"a": "3"}, [])], True),       # empty sample arrays
    ([({"tricky": '"values":[[1,"2"]]', "v": "]]"}, [[60, "1"]]), ({"values": "[["}, [[60, "2"]])], True),
    ([], True),
    ([({"a": "1"}, [[60, "abc"]])], False),                  # not a number: the plain path names the series
])
def test_fast_parse_equals_the_plain_parse(series, fast):
    raw = body(series)
    for text, compact in ((raw, True), (orjson.dumps(orjson.loads(raw), option=orjson.OPT_INDENT_2), False)):
        got = _parse_matrix_fast(text, "q")
        assert (got is not None) == (fast and (compact or not series))   # no samples: no layout to expect
        try:
            want = _parse_matrix_plain(text, "q", None)
        except GpucostError:
            continue
        for m in filter(None, (got, parse_matrix(text, "q"))):
            assert m.labels == want.labels and m.series.tolist() == want.series.tolist()
            assert m.ts.tolist() == want.ts.tolist()
            np.testing.assert_array_equal(m.values, want.values)


def test_full_series_take_the_grid_and_partial_ones_their_timestamps():
    grid = (60_000, 60_000, 3)
    m = parse_matrix(body([({"a": "1"}, [[60, "1"], [120, "2"], [180, "3"]]), ({"a": "2"}, [[120, "5"]])]), "q", grid)
    assert m.ts.tolist() == [60_000, 120_000, 180_000, 120_000] and m.values.tolist() == [1, 2, 3, 5]
    assert m.series.tolist() == [0, 0, 0, 1]


def test_matrix_concat_unifies_series():
    a = parse_matrix(body([({"x": "1"}, [[1, "1"]]), ({"x": "2"}, [[1, "2"]])]), "q")
    b = parse_matrix(body([({"x": "2"}, [[2, "3"]])]), "q")
    m = Matrix.concat([a, b])
    assert m.labels == [{"x": "1"}, {"x": "2"}] and m.series.tolist() == [0, 1, 1] and m.values.tolist() == [1, 2, 3]


def test_windows_are_days_aligned_to_the_step_and_widened_to_earlier_loads():
    d = datetime(2026, 11, 2)
    assert plan_windows(d + timedelta(hours=1, seconds=30), d + timedelta(days=1, hours=2), 60) == [
        Window(d + timedelta(hours=1), d + timedelta(days=1)),
        Window(d + timedelta(days=1), d + timedelta(days=1, hours=2))]
    loaded = [(d, d + timedelta(hours=12)), (d + timedelta(hours=12), d + timedelta(days=1))]
    assert plan_windows(d + timedelta(hours=6), d + timedelta(hours=18), 60, loaded) == [
        Window(d, d + timedelta(days=1))]
    with pytest.raises(GpucostError, match="divide a day"):
        plan_windows(d, d + timedelta(days=1), 7)
    with pytest.raises(GpucostError, match="nothing to collect"):
        plan_windows(d, d + timedelta(seconds=30), 60)


def test_grid_evaluates_each_step_at_its_end_and_splits_ranges():
    w = Window(datetime(2026, 11, 2), datetime(2026, 11, 3))
    g = Grid.of(w, 5)
    assert g.n == 17_280 and g.eval_ms(0) == to_ms(w.start) + 5000
    ranges = g.ranges()
    assert [(b - a) // 5000 + 1 for a, b in ranges] == [11_000, 6_280]
    assert ranges[1][0] == ranges[0][1] + 5000 and ranges[-1][1] == to_ms(w.end)


def test_promql_templates():
    assert duration(59_999) == "59999ms" and duration(60_000) == "1m" and duration(86_400_000) == "1d"
    assert render(KSM_NODE_INFO, 'cluster="a"', range="59999ms") == \
        'max_over_time(kube_node_info{cluster="a"}[59999ms] offset 1ms)'
    assert render('x{{resource="y"{and_sel}}}', "", range="1m") == 'x{resource="y"}'
    assert len({f.name for f in DCGM_FIELDS}) == len(DCGM_FIELDS)


def test_every_stored_field_has_its_column(settings):
    from gpucost.warehouse import open_warehouse

    with open_warehouse(settings, create=True) as con:
        columns = {r[0] for r in con.execute("select column_name from information_schema.columns "
                                             "where table_name = 'raw_dcgm_samples'").fetchall()}
    assert {f.column for f in STORED_FIELDS} <= columns and len(STORED_FIELDS) == 20
    assert all(f.agg == "increase" for f in STORED_FIELDS if f.kind == "counter" and f.unit != "rows")


def test_kube_label_conventions():
    restore = label_restorer(["gpucost.io/job"])
    assert restore({"label_node_kubernetes_io_instance_type": "p5.48xlarge", "label_gpucost_io_job": "j",
                    "label_some_other_key": "v", "node": "n"}) == {
        "node.kubernetes.io/instance-type": "p5.48xlarge", "gpucost.io/job": "j", "some_other_key": "v"}
    assert capacity_type({"karpenter.sh/capacity-type": "on-demand"}) == "on_demand"
    assert capacity_type({"eks.amazonaws.com/capacityType": "SPOT"}) == "spot"
    assert capacity_type({"cloud.google.com/gke-spot": "true"}) == "spot"
    assert capacity_type({}) is None
    assert mig_profile("nvidia_com_mig_1g_5gb") == "1g.5gb" and mig_profile("nvidia_com_mig_1g_10gb_me") == "1g.10gb+me"


def test_dcgm_window_one_row_per_device_step_preferring_the_pod():
    w = Window(datetime(2026, 11, 2), datetime(2026, 11, 2, 0, 3))
    g = Grid.of(w, 60)
    t = [g.eval_ms(k) / 1000 for k in range(3)]
    idle = {**BASE, "Hostname": "n"}
    busy = {**idle, "pod": "p", "namespace": "ns"}
    util = parse_matrix(body([(idle, [[t[0], "0"], [t[1], "0"]]), (busy, [[t[1], "90"], [t[2], "95"]])]), "u")
    power = parse_matrix(body([(idle, [[t[0], "60"]]), (busy, [[t[2], "NaN"]])]), "p")
    out = dcgm_window({"DCGM_FI_DEV_GPU_UTIL": util, "DCGM_FI_DEV_POWER_USAGE": power}, g, "c")
    rows = out.table.to_pylist()
    assert [(r["pod"], r["gpu_util"], r["power_w"]) for r in rows] == [(None, 0.0, 60.0), ("p", 90.0, None),
                                                                       ("p", 95.0, None)]
    assert out.duplicates == 1 and out.nonfinite == 1
    assert out.pods[("ns", "p")].steps == {1, 2} and out.devices["GPU-1"].first == 0
    with pytest.raises(GpucostError, match="not on the query's step grid"):
        dcgm_window({"DCGM_FI_DEV_GPU_UTIL": parse_matrix(body([(idle, [[t[0] + 1, "0"]])]), "u")}, g, "c")
