"""A job's context for rules: its devices, pods, owner and how to name and patch it."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from gpucost.analytics.recommend import facts, patches
from gpucost.analytics.recommend.facts import JobDevice, PodShape
from gpucost.analytics.recommend.model import JobKey, Window, recommendation_id

GANG_KINDS = ("PyTorchJob", "JobSet", "MPIJob", "TFJob", "RayJob", "LeaderWorkerSet")
"""Owners whose pods run in lock-step (gang-scheduled, synchronous training)."""


@dataclass(frozen=True)
class JobContext:
    key: JobKey
    devices: tuple[JobDevice, ...]
    pods: tuple[PodShape, ...]

    @property
    def cluster(self) -> str:
        return self.key[0]

    @property
    def namespace(self) -> str:
        return self.key[1]

    @property
    def name(self) -> str:
        return self.key[2]

    @property
    def team(self) -> str | None:
        return next((d.team for d in self.devices if d.team), None)

    @property
    def owner_kind(self) -> str:
        return next((p.owner_kind for p in self.pods if p.owner_kind), None) or "Pod"

    @property
    def owner_name(self) -> str:
        names = {p.owner_name for p in self.pods if p.owner_name}
        return names.pop() if len(names) == 1 else self.name

    @property
    def target(self) -> str:
        """'<namespace>/<OwnerKind>/<name>': what a user edits."""
        return f"{self.namespace}/{self.owner_kind}/{self.owner_name}"

    @property
    def gpu_hours(self) -> float:
        return sum(d.gpu_hours for d in self.devices)

    @property
    def cost_usd(self) -> float:
        return sum(d.cost_usd for d in self.devices)

    @property
    def mem_peak_bytes(self) -> int | None:
        peaks = [d.mem_peak_bytes for d in self.devices if d.mem_peak_bytes is not None]
        return max(peaks) if peaks else None

    @property
    def gpus_per_pod(self) -> int:
        return max((p.gpu_request or len(p.devices) for p in self.pods if not p.mig_profile), default=0)

    @property
    def label(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for p in self.pods:
            merged.update(p.labels)
        return merged

    def main_model(self) -> tuple[str | None, tuple[JobDevice, ...]]:
        """The GPU model with the most GPU-hours (ties: alphabetical) and the job's devices of it."""
        hours: dict[str | None, float] = {}
        for d in self.devices:
            hours[d.gpu_model] = hours.get(d.gpu_model, 0.0) + d.gpu_hours
        model = min(hours, key=lambda m: (-hours[m], m or ""))
        return model, tuple(d for d in self.devices if d.gpu_model == model)

    def rec_id(self, kind: str, window: Window) -> str:
        return recommendation_id(kind, self.target, window, self.cluster)

    def replica(self) -> str | None:
        """The replica the pods belong to, for PyTorchJob / JobSet patches."""
        labels = self.label
        if self.owner_kind == "JobSet":
            return labels.get("jobset.sigs.k8s.io/replicatedjob-name")
        return None

    def patch(self, con: duckdb.DuckDBPyConnection, window: Window, kind: str, action: str, **changes) -> str:
        """A strategic-merge patch of the owner's pod template (see patches.owner_patch)."""
        names = facts.containers(con, window, list(self.pods))
        return patches.owner_patch(self.rec_id(kind, window), action, self.owner_kind, self.owner_name,
                                   self.namespace, containers=names or [self.owner_name],
                                   replica=self.replica(), **changes)


def job_contexts(con: duckdb.DuckDBPyConnection, window: Window) -> list[JobContext]:
    """Every job that held GPUs in the window, in (cluster, namespace, job) order."""
    devices = facts.by_job(facts.job_devices(con, window))
    pods = facts.pod_shapes(con, window)
    return [JobContext(key, tuple(devs), tuple(pods.get(key, ()))) for key, devs in sorted(devices.items())]


def hourly_util(con: duckdb.DuckDBPyConnection, window: Window) -> dict[JobKey, list[float]]:
    """Per job, its hourly utilisation % (GPU-hour weighted over its devices), hours with data."""
    return {k: [r["util_pct"] for r in rows if r["util_pct"] is not None]
            for k, rows in facts.job_hours(con, window).items()}
