"""Reviewable Kubernetes changes, as YAML documents (text), for the recommendations.

Each document starts with a comment naming the recommendation and carries the annotation
``gpucost.io/recommendation-id``. Shapes:

- a strategic-merge patch of the owner's pod template (Deployment/StatefulSet/Job: the
  ``spec.template.spec``; CronJob: ``spec.jobTemplate.spec.template.spec``; Kubeflow Notebook:
  ``spec.template.spec``; PyTorchJob: ``spec.pytorchReplicaSpecs.<Master|Worker>.template.spec``;
  JobSet: ``spec.replicatedJobs[].template.spec.template.spec``): container ``resources.limits``
  and requests (``nvidia.com/gpu``, MIG resources ``nvidia.com/mig-<profile>``), ``nodeSelector``
  (``node.kubernetes.io/instance-type``), or a required node affinity for spot capacity that
  matches Karpenter (``karpenter.sh/capacity-type: spot``) or EKS managed node groups
  (``eks.amazonaws.com/capacityType: SPOT``) — the two terms are ORed.
  Custom resources (Notebook, PyTorchJob, JobSet) take only JSON merge patches, which replace
  lists: apply those as an edit of the manifest (the comment says so).
- a DRA ``ResourceClaimTemplate`` in ``resource.k8s.io/v1`` (Kubernetes 1.34+): ``spec.spec.devices.
  requests[]`` with ``name`` and ``exactly: {deviceClassName, allocationMode: ExactCount, count,
  selectors: [{cel: {expression}}]}``; device classes and attributes of the NVIDIA DRA driver
  (``gpu.nvidia.com`` / ``mig.nvidia.com``, ``device.attributes['gpu.nvidia.com'].productName``,
  ``.profile``), as in kubernetes-sigs/dra-driver-nvidia-gpu's v1 demo specs.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import yaml

ANNOTATION = "gpucost.io/recommendation-id"
CUSTOM_RESOURCES = ("Notebook", "PyTorchJob", "JobSet")
API_VERSIONS = MappingProxyType({"Deployment": "apps/v1", "StatefulSet": "apps/v1", "ReplicaSet": "apps/v1",
                "DaemonSet": "apps/v1", "Job": "batch/v1", "CronJob": "batch/v1", "Pod": "v1",
                "Notebook": "kubeflow.org/v1", "PyTorchJob": "kubeflow.org/v1",
                "JobSet": "jobset.x-k8s.io/v1alpha2"})


def spot_affinity() -> dict[str, Any]:
    """Required node affinity for spot capacity: Karpenter's or EKS managed node groups' label
    (node selector terms are ORed)."""
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}]},
        {"matchExpressions": [{"key": "eks.amazonaws.com/capacityType", "operator": "In", "values": ["SPOT"]}]},
    ]}}}


def dns_name(text: str, limit: int = 63) -> str:
    """A DNS-1123 label made from text (lower case, [a-z0-9-], at most `limit` characters)."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (name[:limit].rstrip("-")) or "gpucost"


def _metadata(name: str, namespace: str | None, rec_id: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["annotations"] = {ANNOTATION: rec_id}
    return meta


def _pod_spec_path(kind: str, pod_spec: dict[str, Any], replica: str | None) -> dict[str, Any]:
    template = {"spec": pod_spec}
    if kind == "CronJob":
        return {"jobTemplate": {"spec": {"template": template}}}
    if kind == "PyTorchJob":
        types = [replica] if replica else ["Master", "Worker"]
        return {"pytorchReplicaSpecs": {t: {"template": template} for t in types}}
    if kind == "JobSet":
        return {"replicatedJobs": [{"name": replica or "trainer", "template": {"spec": {"template": template}}}]}
    if kind == "Pod":
        return pod_spec
    return {"template": template}


def document(comment: str, body: Mapping[str, Any]) -> str:
    lines = "".join(f"# {line}\n" for line in comment.splitlines())
    return lines + yaml.safe_dump(dict(body), sort_keys=False, default_flow_style=False, width=10_000)


def owner_patch(rec_id: str, action: str, kind: str, name: str, namespace: str | None, *,
                containers: Sequence[str] = (), limits: Mapping[str, int] | None = None,
                drop_limits: Sequence[str] = (), node_selector: Mapping[str, str] | None = None,
                affinity: Mapping[str, Any] | None = None, replica: str | None = None) -> str:
    """A patch of the owner's pod template: container GPU limits, a nodeSelector, an affinity.

    drop_limits: resource names to remove (strategic merge: value null)."""
    pod_spec: dict[str, Any] = {}
    if limits or drop_limits:
        res: dict[str, Any] = {name_: None for name_ in drop_limits}
        res.update({k: int(v) for k, v in (limits or {}).items()})
        pod_spec["containers"] = [{"name": c, "resources": {"requests": dict(res), "limits": dict(res)}}
                                  for c in (containers or [name])]
    if node_selector:
        pod_spec["nodeSelector"] = dict(node_selector)
    if affinity:
        pod_spec["affinity"] = dict(affinity)
    api = API_VERSIONS.get(kind, "apps/v1")
    comment = f"recommendation {rec_id}: {action}"
    if kind in CUSTOM_RESOURCES:
        comment += "\ncustom resource: apply as an edit of its manifest (a JSON merge patch would replace lists)"
    elif kind in ("Job",):
        comment += "\na Job's pod template is immutable: change the manifest that creates it"
    body = {"apiVersion": api, "kind": kind, "metadata": _metadata(name, namespace, rec_id),
            "spec": _pod_spec_path(kind, pod_spec, replica)}
    if kind == "Pod":
        body["spec"] = pod_spec
    return document(comment, body)


def claim_template(rec_id: str, action: str, name: str, namespace: str | None, *, request: str,
                   device_class: str, count: int, selectors: Sequence[str]) -> str:
    """A DRA ResourceClaimTemplate (resource.k8s.io/v1) asking for `count` devices."""
    exactly: dict[str, Any] = {"deviceClassName": device_class, "allocationMode": "ExactCount",
                               "count": int(count)}
    if selectors:
        exactly["selectors"] = [{"cel": {"expression": expr}} for expr in selectors]
    body = {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
            "metadata": _metadata(dns_name(name), namespace, rec_id),
            "spec": {"spec": {"devices": {"requests": [{"name": dns_name(request), "exactly": exactly}]}}}}
    return document(f"recommendation {rec_id}: {action}\nDRA alternative (Kubernetes 1.34+, NVIDIA DRA driver)", body)


def product_selector(gpu_model: str) -> str:
    """CEL selecting a GPU by the NVIDIA DRA driver's productName attribute."""
    return f"device.attributes['gpu.nvidia.com'].productName == '{gpu_model.replace(chr(39), '')}'"


def profile_selector(profile: str) -> str:
    return f"device.attributes['gpu.nvidia.com'].profile == '{profile}'"


def join(documents: Sequence[str]) -> str | None:
    """Documents as one multi-document YAML text (None when there are none)."""
    docs = [d for d in documents if d]
    return "---\n".join(docs) if docs else None
