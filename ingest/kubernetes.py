"""Kubernetes objects that say which GPU a workload holds: DRA ResourceSlices, ResourceClaims
and DeviceClasses (resource.k8s.io v1, v1beta2, v1beta1 and v1alpha3), and node labels
(GPU feature discovery). Pure functions over the objects as dicts, plus two readers: files
from `kubectl get -o json|yaml` (Lists, multi-document YAML, label maps) and a live cluster
through the official `kubernetes` client (kubeconfig or in-cluster).

Shapes: v1 and v1beta2 devices carry `attributes`/`capacity` directly; v1beta1 and v1alpha3
wrap them in `basic`. Claim requests are `exactly:` / `firstAvailable:` in v1/v1beta2 and
flat in v1beta1. Attribute values are {string|int|bool|version: v}; names may be qualified
by the driver's domain ('gpu.nvidia.com/uuid') or not ('uuid').

What a claim holds: each allocation result (driver, pool, device) is looked up in the
slices. For NVIDIA's driver (gpu.nvidia.com) a device of type 'gpu' is a whole GPU or vGPU
(device_id = its uuid, the DCGM UUID label); type 'mig' has its own MIG uuid and the
parent's (parentUUID; device_id = '<parentUUID>/<GPU instance id>' when the slice publishes
the instance id, else None - DCGM's dra_mig_device_uuid label links it); compute-domain
channels/daemons are not GPUs. The NVLink clique is the node's nvidia.com/gpu.clique label,
else the slice's nodeSelector on nvidia.com/gpu.clusteruuid + nvidia.com/gpu.cliqueid.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import yaml

from gpucost.errors import GpucostError

RESOURCE_VERSIONS = ("v1", "v1beta2", "v1beta1")
RESOURCES = ("resourceslices", "resourceclaims", "deviceclasses")
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)([a-zA-Z]*)$")
_SUFFIX = {"": 1, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
           "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18, "m": 1e-3}


@dataclass(frozen=True)
class DraDevice:
    node: str | None
    driver: str
    pool: str
    name: str
    kind: str | None          # attribute 'type': gpu | mig | vfio | channel | daemon | imex-channel ...
    uuid: str | None
    parent_uuid: str | None
    device_id: str | None     # raw_gpu_devices' key, when it can be told
    product: str | None
    mig_profile: str | None
    memory_bytes: int | None
    pci_bus_id: str | None
    clique: str | None
    api_version: str

    @property
    def is_gpu(self) -> bool:
        return self.kind in ("gpu", "mig", "vfio") or (self.kind is None and self.uuid is not None)


@dataclass(frozen=True)
class ClaimAllocation:
    namespace: str
    claim: str
    pods: tuple[str, ...]     # pods the claim is reserved for
    request: str
    device_class: str | None
    driver: str
    pool: str
    device: str
    node: str | None
    kind: str | None
    gpu_uuid: str | None      # the physical GPU (parent for MIG)
    device_id: str | None
    mig_profile: str | None
    clique: str | None


@dataclass(frozen=True)
class DeviceClassInfo:
    name: str
    driver: str | None
    device_type: str | None
    extended_resource: str | None
    api_version: str


@dataclass(frozen=True)
class NodeGpuLabels:
    node: str | None
    product: str | None
    count: int | None
    memory_mib: int | None
    clique: str | None
    mig_strategy: str | None
    mig_config: str | None
    replicas: int | None
    sharing_strategy: str | None
    vgpu: bool
    mig_profiles: tuple[tuple[str, int], ...]     # (profile, count) from nvidia.com/mig-<profile>.count


@dataclass
class DraInventory:
    devices: list[DraDevice]
    allocations: list[ClaimAllocation]
    classes: list[DeviceClassInfo]
    nodes: list[NodeGpuLabels]

    def tables(self) -> dict[str, pa.Table]:
        """One Arrow table per kind (columns = dataclass fields)."""
        out = {}
        for name, rows, cls in (("dra_devices", self.devices, DraDevice), ("dra_allocations", self.allocations,
                                 ClaimAllocation), ("dra_device_classes", self.classes, DeviceClassInfo),
                                ("node_gpu_labels", self.nodes, NodeGpuLabels)):
            cols = [f.name for f in fields(cls)]
            data = [asdict(r) for r in rows]
            out[name] = pa.table({c: pa.array([_plain(d[c]) for d in data]) for c in cols}) if data else \
                pa.table({c: pa.array([], pa.string()) for c in cols})
        return out


def allocation_rows(inv: DraInventory, cluster: str, observed_at: datetime) -> pa.Table:
    """raw_dra_allocations rows (schema v7): one per GPU allocation result and reserved pod
    (a claim reserved for no pod yet keeps one row with pod null); non-GPU devices
    (compute-domain channels, daemons) are left out."""
    rows = []
    for a in inv.allocations:
        if a.kind not in (None, "gpu", "mig", "vfio") or (a.kind is None and a.gpu_uuid is None):
            continue
        for pod in a.pods or (None,):
            rows.append({"observed_at": observed_at, "cluster": cluster, "namespace": a.namespace, "claim": a.claim,
                         "pod": pod, "node": a.node, "driver": a.driver, "pool": a.pool, "device": a.device,
                         "device_class": a.device_class, "kind": a.kind, "gpu_uuid": a.gpu_uuid,
                         "device_id": a.device_id, "mig_profile": a.mig_profile, "nvlink_domain": a.clique})
    names = ("namespace", "claim", "pod", "node", "driver", "pool", "device", "device_class", "kind", "gpu_uuid",
             "device_id", "mig_profile", "nvlink_domain")
    schema = pa.schema([("observed_at", pa.timestamp("us")), ("cluster", pa.string())]
                       + [(n, pa.string()) for n in names])
    return pa.Table.from_pylist(rows, schema=schema)


def _plain(v):
    return [list(x) if isinstance(x, tuple) else x for x in v] if isinstance(v, tuple) else v


def quantity(text: Any) -> int | None:
    """A Kubernetes quantity ('40Gi', '80G', '1e3') in base units, rounded."""
    if text is None:
        return None
    m = _QUANTITY.match(str(text).strip())
    if not m or m.group(2) not in _SUFFIX:
        return None
    return int(round(float(m.group(1)) * _SUFFIX[m.group(2)]))


def _value(v: Any) -> Any:
    if isinstance(v, dict):
        for k in ("string", "int", "bool", "version", "strings", "ints", "bools", "versions"):
            if k in v:
                return v[k]
    return v


def _attributes(raw: dict, driver: str) -> dict[str, Any]:
    out = {}
    for key, v in (raw or {}).items():
        domain, _, short = key.rpartition("/")
        out[short if domain == driver else key] = _value(v)
    return out


def _int(v) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _clique_from_selector(selector: dict | None) -> str | None:
    exprs = {}
    for term in (selector or {}).get("nodeSelectorTerms") or []:
        for e in term.get("matchExpressions") or []:
            if e.get("operator") == "In" and e.get("values"):
                exprs[e.get("key")] = e["values"][0]
    if "nvidia.com/gpu.clique" in exprs:
        return exprs["nvidia.com/gpu.clique"]
    if "nvidia.com/gpu.cliqueid" in exprs:
        uuid = exprs.get("nvidia.com/gpu.clusteruuid")
        return f"{uuid}.{exprs['nvidia.com/gpu.cliqueid']}" if uuid else exprs["nvidia.com/gpu.cliqueid"]
    return None


def parse_node_labels(labels: dict[str, str], node: str | None = None) -> NodeGpuLabels:
    migs = sorted((m.group(1), _int(v) or 0) for k, v in labels.items()
                  if (m := re.fullmatch(r"nvidia\.com/mig-(.+)\.count", k)))
    return NodeGpuLabels(
        node=node or labels.get("kubernetes.io/hostname"), product=labels.get("nvidia.com/gpu.product"),
        count=_int(labels.get("nvidia.com/gpu.count")), memory_mib=_int(labels.get("nvidia.com/gpu.memory")),
        clique=labels.get("nvidia.com/gpu.clique"), mig_strategy=labels.get("nvidia.com/mig.strategy"),
        mig_config=labels.get("nvidia.com/mig.config"), replicas=_int(labels.get("nvidia.com/gpu.replicas")),
        sharing_strategy=labels.get("nvidia.com/gpu.sharing-strategy"),
        vgpu=labels.get("nvidia.com/vgpu.present") == "true", mig_profiles=tuple(migs))


def slice_devices(obj: dict, cliques: dict[str, str] | None = None) -> list[DraDevice]:
    spec, version = obj.get("spec") or {}, obj.get("apiVersion", "")
    driver = spec.get("driver", "")
    pool = (spec.get("pool") or {}).get("name", "")
    node = spec.get("nodeName")
    slice_clique = _clique_from_selector(spec.get("nodeSelector"))
    out = []
    for dev in spec.get("devices") or []:
        body = dev.get("basic") or dev          # v1beta1/v1alpha3 wrap in `basic`
        attrs = _attributes(body.get("attributes"), driver)
        capacity = {k.rpartition("/")[2]: (v or {}).get("value") for k, v in (body.get("capacity") or {}).items()}
        kind = attrs.get("type")
        uuid = attrs.get("uuid")
        parent = attrs.get("parentUUID")
        gi = next((attrs[k] for k in ("gpuInstanceId", "giId", "migInstanceId") if k in attrs), None)
        if kind == "mig":
            device_id = f"{parent}/{gi}" if parent and gi is not None else None
        else:
            device_id = uuid
        dev_node = node or body.get("nodeName") or dev.get("nodeName")
        clique = attrs.get("cliqueId") or attrs.get("clique") or (cliques or {}).get(dev_node or "") or slice_clique
        out.append(DraDevice(
            node=dev_node, driver=driver, pool=pool, name=dev.get("name", ""), kind=kind, uuid=uuid,
            parent_uuid=parent, device_id=device_id, product=attrs.get("productName"),
            mig_profile=attrs.get("profile") if kind == "mig" else None, memory_bytes=quantity(capacity.get("memory")),
            pci_bus_id=attrs.get("resource.kubernetes.io/pciBusID") or attrs.get("pciBusID"), clique=clique,
            api_version=version))
    return out


def _requests(spec: dict) -> dict[str, str | None]:
    """request name -> device class (v1/v1beta2 `exactly`, first of `firstAvailable`, v1beta1 flat)."""
    out = {}
    for r in ((spec.get("devices") or {}).get("requests") or []):
        exact = r.get("exactly") or (r.get("firstAvailable") or [{}])[0] if ("exactly" in r or "firstAvailable" in r) \
            else r
        out[r.get("name", "")] = exact.get("deviceClassName")
        for sub in r.get("firstAvailable") or []:
            out[f"{r.get('name', '')}/{sub.get('name', '')}"] = sub.get("deviceClassName")
    return out


def claim_allocations(obj: dict, devices: dict[tuple[str, str, str], DraDevice]) -> list[ClaimAllocation]:
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    alloc = status.get("allocation") or {}
    requests = _requests(obj.get("spec") or {})
    pods = tuple(r.get("name", "") for r in status.get("reservedFor") or [] if r.get("resource") == "pods")
    if not pods:
        pods = tuple(o.get("name", "") for o in meta.get("ownerReferences") or [] if o.get("kind") == "Pod")
    selector_node = None
    for term in ((alloc.get("nodeSelector") or {}).get("nodeSelectorTerms") or []):
        for f in term.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("values"):
                selector_node = f["values"][0]
    out = []
    for r in ((alloc.get("devices") or {}).get("results") or []):
        key = (r.get("driver", ""), r.get("pool", ""), r.get("device", ""))
        d = devices.get(key)
        out.append(ClaimAllocation(
            namespace=meta.get("namespace", ""), claim=meta.get("name", ""), pods=pods, request=r.get("request", ""),
            device_class=requests.get(r.get("request", "")), driver=key[0], pool=key[1], device=key[2],
            node=(d.node if d else None) or selector_node, kind=d.kind if d else None,
            gpu_uuid=(d.parent_uuid or d.uuid) if d else None, device_id=d.device_id if d else None,
            mig_profile=d.mig_profile if d else None, clique=d.clique if d else None))
    return out


def device_class(obj: dict) -> DeviceClassInfo:
    spec = obj.get("spec") or {}
    cel = " ".join(((s.get("cel") or {}).get("expression") or "") for s in spec.get("selectors") or [])
    driver = re.search(r"device\.driver\s*==\s*['\"]([^'\"]+)['\"]", cel)
    dtype = re.search(r"\.type\s*==\s*['\"]([^'\"]+)['\"]", cel)
    return DeviceClassInfo(name=(obj.get("metadata") or {}).get("name", ""), driver=driver and driver.group(1),
                           device_type=dtype and dtype.group(1), extended_resource=spec.get("extendedResourceName"),
                           api_version=obj.get("apiVersion", ""))


def inventory(objects: Iterable[dict]) -> DraInventory:
    """Devices, claim allocations, device classes and GPU node labels from objects of any
    supported version (Lists are flattened; unrelated kinds are ignored)."""
    objs, seen = [], {}
    for o in _flatten(objects):      # the same object listed twice (two dumps) counts once: the last wins
        meta = o.get("metadata") or {}
        key = (o.get("kind"), o.get("apiVersion"), meta.get("namespace"), meta.get("name")) if meta.get("name") \
            else None
        if key is not None and key in seen:
            objs[seen[key]] = o
            continue
        if key is not None:
            seen[key] = len(objs)
        objs.append(o)
    nodes = [parse_node_labels((o.get("metadata") or {}).get("labels") or {}, (o.get("metadata") or {}).get("name"))
             for o in objs if o.get("kind") == "Node"]
    nodes += [parse_node_labels(o["_labels"]) for o in objs if "_labels" in o]
    cliques = {n.node: n.clique for n in nodes if n.node and n.clique}
    devices = [d for o in objs if o.get("kind") == "ResourceSlice" for d in slice_devices(o, cliques)]
    index = {(d.driver, d.pool, d.name): d for d in devices}
    allocations = [a for o in objs if o.get("kind") == "ResourceClaim" for a in claim_allocations(o, index)]
    classes = [device_class(o) for o in objs if o.get("kind") == "DeviceClass"]
    return DraInventory(devices, allocations, classes, nodes)


def _flatten(objects: Iterable[Any]) -> Iterable[dict]:
    for o in objects:
        if isinstance(o, list):
            yield from _flatten(o)
        elif isinstance(o, dict):
            if isinstance(o.get("items"), list):
                yield from _flatten(o["items"])
            elif "kind" in o or "apiVersion" in o:
                yield o
            elif o and all(isinstance(v, str) for v in o.values()):
                yield {"_labels": o}          # a node's label map (kubectl get node -o jsonpath=...labels)


def load_files(paths: Iterable[Path]) -> list[dict]:
    """Objects from kubectl JSON or YAML output files (documents, Lists, arrays, label maps)."""
    out: list = []
    for p in paths:
        text = Path(p).read_text()
        try:
            docs = [json.loads(text)] if p.suffix == ".json" else [d for d in yaml.safe_load_all(text) if d is not None]
        except (json.JSONDecodeError, yaml.YAMLError) as exc:
            raise GpucostError(f"{p}: not JSON/YAML ({str(exc).splitlines()[0]})") from None
        out += docs
    return out


def read_cluster(kubeconfig: str | None = None, context: str | None = None, in_cluster: bool = False) -> list[dict]:
    """The DRA objects and nodes of a live cluster via the official client; each resource is
    read at the newest resource.k8s.io version the server serves."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    try:
        if in_cluster:
            config.load_incluster_config()
            api = client.ApiClient()
        else:
            api = config.new_client_from_config(config_file=kubeconfig, context=context)
    except Exception as exc:     # the client raises several types for a bad kubeconfig
        raise GpucostError(f"cannot load Kubernetes config: {str(exc).splitlines()[0]}") from None

    def get(path: str) -> dict | None:
        try:
            resp = api.call_api(path, "GET", auth_settings=["BearerToken"], _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise GpucostError(f"Kubernetes API {path}: HTTP {exc.status} {exc.reason}") from None
        except Exception as exc:
            raise GpucostError(f"Kubernetes API {path}: {str(exc).splitlines()[0]}") from None
        raw = resp[0] if isinstance(resp, tuple) else resp
        return json.loads(raw.data)

    objects: list[dict] = []
    with api:
        for resource in RESOURCES:
            for version in RESOURCE_VERSIONS:
                found = get(f"/apis/resource.k8s.io/{version}/{resource}")
                if found is not None:
                    kind = {"resourceslices": "ResourceSlice", "resourceclaims": "ResourceClaim",
                            "deviceclasses": "DeviceClass"}[resource]
                    for item in found.get("items") or []:
                        item.setdefault("kind", kind)
                        item.setdefault("apiVersion", f"resource.k8s.io/{version}")
                        objects.append(item)
                    break
        nodes = get("/api/v1/nodes") or {}
        for item in nodes.get("items") or []:
            item.setdefault("kind", "Node")
            objects.append(item)
    return objects
