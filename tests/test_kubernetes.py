"""DRA objects and GPU node labels -> which GPU each claim holds (ingest/kubernetes.py).

Real objects (../shared/data/k8s, read in place), and what they must give:
- dra/real-cluster-dumps/.../v1.35..._block15.yaml: 4 vGPU nodes, GRID A100-40C (40Gi) and
  3x GRID A100-4C (4Gi), plus a compute-domain channel and daemon per node (not GPUs);
- .../v1.36..._block17.yaml + block22/block10 (the same claim dumped twice): claim
  dra-gpu-example-...-d2jzk (gpu-test1) holds gpu-0 of pool ...-wv2gs =
  GPU-44d2411e-1604-478f-aa96-5a3c00000000 for pod dra-gpu-example-798fccd4d-sfl2p, once;
- node-labels(.array).json: GRID-A100-* vGPU labels; gfd mig-mixed: H100 MIG mixed with
  1g.10gb x2, 2g.20gb, 3g.40gb;
- kubernetes-api-testdata v1beta1 ResourceSlice: the `basic` wrapper is read;
- kubernetes-website-examples deviceclass.yaml (v1beta2): driver driver.example.com;
- nvidia historic imex ResourceSlice (v1alpha3): channels in clique <clusteruuid>.<cliqueid>.
The official client is exercised against a local HTTP API server that serves these
objects, with a kubeconfig and a bearer token.
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gpucost.errors import GpucostError
from gpucost.ingest.kubernetes import inventory, load_files, parse_node_labels, quantity, read_cluster

CLAIMED_UUID = "GPU-44d2411e-1604-478f-aa96-5a3c00000000"


@pytest.fixture
def k8s(shared_data) -> Path:
    return shared_data / "k8s"


def dumps(k8s: Path) -> Path:
    return k8s / "dra" / "real-cluster-dumps" / "cncf-k8s-ai-conformance" / "extracted"


def test_real_cluster_dumps(k8s):
    inv = inventory(load_files(sorted(dumps(k8s).glob("*"))))
    gpus = [d for d in inv.devices if d.is_gpu]
    assert sorted(d.product for d in gpus) == ["GRID A100-10C"] * 2 + ["GRID A100-40C"] + ["GRID A100-4C"] * 3
    big = next(d for d in gpus if d.product == "GRID A100-40C")
    assert (big.uuid, big.device_id, big.memory_bytes, big.pci_bus_id) == (
        "GPU-b65409f1-9131-4932-bbf9-065400000000", "GPU-b65409f1-9131-4932-bbf9-065400000000", 40 * 2 ** 30,
        "0000:03:00.0")
    assert {d.kind for d in inv.devices if not d.is_gpu} == {"channel", "daemon"}
    [claim] = inv.allocations
    assert (claim.namespace, claim.claim, claim.pods, claim.device_class) == (
        "gpu-test1", "dra-gpu-example-798fccd4d-sfl2p-single-gpu-d2jzk", ("dra-gpu-example-798fccd4d-sfl2p",),
        "gpu.nvidia.com")
    assert (claim.node, claim.gpu_uuid, claim.device_id) == ("conformance-test-np1-qcqc8-bpdtl-wv2gs",
                                                             CLAIMED_UUID, CLAIMED_UUID)
    labels = {n.product for n in inv.nodes}
    assert {"GRID-A100-40C", "GRID-A100-4C", "GRID-A100-10C"} <= labels and all(n.vgpu for n in inv.nodes)
    assert {t: inv.tables()[t].num_rows for t in ("dra_devices", "dra_allocations")} == {
        "dra_devices": len(inv.devices), "dra_allocations": 1}


def test_v1beta1_basic_wrapper_and_testdata(k8s):
    v1 = load_files([dumps(k8s) / "v1.36__vks__dra_support__block17.yaml"])[0]
    beta = copy.deepcopy(v1)
    for item in beta["items"]:
        item["apiVersion"] = "resource.k8s.io/v1beta1"
        item["spec"]["devices"] = [{"name": d["name"], "basic": {"attributes": d["attributes"],
                                                                  "capacity": d["capacity"]}}
                                   for d in item["spec"]["devices"]]
    strip = lambda inv: [(d.uuid, d.product, d.memory_bytes, d.node) for d in inv.devices]   # noqa: E731
    assert strip(inventory([beta])) == strip(inventory([v1])) and len(inventory([v1]).devices) == 2
    api = k8s / "dra" / "kubernetes-api-testdata"
    testdata = inventory(load_files([api / "resource.k8s.io.v1beta1.ResourceSlice.yaml",
                                     api / "resource.k8s.io.v1.ResourceSlice.yaml",
                                     api / "resource.k8s.io.v1.ResourceClaim.yaml"]))
    assert {d.api_version for d in testdata.devices} == {"resource.k8s.io/v1beta1", "resource.k8s.io/v1"}
    assert testdata.allocations[0].device == "deviceValue" and testdata.allocations[0].gpu_uuid is None


def test_device_classes_cliques_and_mig_node_labels(k8s):
    inv = inventory(load_files([k8s / "dra" / "kubernetes-website-examples" / "deviceclass.yaml",
                                k8s / "dra" / "nvidia-k8s-dra-driver-gpu" / "historic" /
                                "imex-resourceslice.v1alpha3.yaml"]))
    assert [(c.name, c.driver, c.api_version) for c in inv.classes] == [
        ("example-device-class", "driver.example.com", "resource.k8s.io/v1beta2")]
    cliques = {d.clique for d in inv.devices}
    assert cliques == {"0f884867-ba2f-4294-9155-b495ff367eea.1", "0f884867-ba2f-4294-9155-b495ff367eea.2"}
    mig = parse_node_labels(json.loads((k8s / "gfd" / "nvidia-cloud-native-docs" / "gpu-operator" / "manifests" /
                                        "output" / "mig-mixed-node-labels.json").read_text()))
    assert (mig.product, mig.mig_strategy, mig.mig_profiles) == (
        "NVIDIA-H100-80GB-HBM3", "mixed", (("1g.10gb", 2), ("2g.20gb", 1), ("3g.40gb", 1)))


def test_mig_device_and_node_clique():
    slice_ = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "s"},
              "spec": {"driver": "gpu.nvidia.com", "nodeName": "n1", "pool": {"name": "n1"}, "devices": [
                  {"name": "gpu-0-mig-9", "attributes": {
                      "type": {"string": "mig"}, "uuid": {"string": "MIG-aaa"}, "parentUUID": {"string": "GPU-p"},
                      "profile": {"string": "1g.5gb"}, "gpu.nvidia.com/gpuInstanceId": {"int": 9}},
                   "capacity": {"memory": {"value": "4864Mi"}}}]}}
    node = {"kind": "Node", "metadata": {"name": "n1", "labels": {"nvidia.com/gpu.clique": "cluster-1.7"}}}
    [d] = inventory([slice_, node]).devices
    assert (d.device_id, d.mig_profile, d.memory_bytes, d.clique) == (
        "GPU-p/9", "1g.5gb", 4864 * 2 ** 20, "cluster-1.7")
    assert quantity("40Gi") == 40 * 2 ** 30 and quantity("1.5k") == 1500 and quantity("bogus") is None


def test_official_client_reads_a_cluster(k8s, tmp_path):
    files = {p.name: p for p in dumps(k8s).glob("*")}
    slices = [i for f in ("v1.35__vks__dra_support__block15.yaml", "v1.36__vks__dra_support__block17.yaml")
              for i in load_files([files[f]])[0]["items"]]
    claims = load_files([files["v1.36__vks__dra_support__block22.yaml"]])[0]["items"]
    classes = load_files([k8s / "dra" / "kubernetes-website-examples" / "deviceclass.yaml"])
    labels = json.loads(files["v1.36__vks__dra_support__block05.node-labels.json"].read_text())
    nodes = [{"metadata": {"name": labels["kubernetes.io/hostname"], "labels": labels}}]
    routes = {"/apis/resource.k8s.io/v1/resourceslices": {"items": slices},
              "/apis/resource.k8s.io/v1/resourceclaims": {"items": claims},
              "/apis/resource.k8s.io/v1beta2/deviceclasses": {"items": classes},   # no v1: the reader falls back
              "/api/v1/nodes": {"items": nodes}}
    seen = []

    class Api(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization")))
            if self.headers.get("Authorization") != "Bearer t0ken":
                self.send_response(401)
                self.end_headers()
                return
            body = routes.get(self.path.split("?")[0])
            data = json.dumps(body or {"kind": "Status", "code": 404}).encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{server.server_address[1]}"}}}}]
users: [{{name: u, user: {{token: t0ken}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    try:
        inv = inventory(read_cluster(kubeconfig=str(kubeconfig)))
        assert [a.device_id for a in inv.allocations] == [CLAIMED_UUID]
        assert [c.api_version for c in inv.classes] == ["resource.k8s.io/v1beta2"]
        assert inv.nodes[0].product == "GRID-A100-10C" and inv.nodes[0].node == "conformance-test-np1-qcqc8-bpdtl-rcj8j"
        assert ("/apis/resource.k8s.io/v1/deviceclasses", "Bearer t0ken") in seen
        kubeconfig.write_text(kubeconfig.read_text().replace("t0ken", "wrong"))
        with pytest.raises(GpucostError, match="HTTP 401"):
            read_cluster(kubeconfig=str(kubeconfig))
    finally:
        server.shutdown()
        server.server_close()
