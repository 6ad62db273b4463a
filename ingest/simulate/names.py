"""Realistic, deterministic identifiers: node names, EC2 ids, GPU UUIDs, pod name suffixes.

Formats follow what the real systems produce:
- EKS node names `ip-10-1-23-45.ec2.internal` (VPC 10.1.0.0/16, one /18 per zone),
- provider ids `aws:///us-east-1a/i-0` + 16 hex digits (17 hex digits after `i-`),
- GPU UUIDs `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (as in dcgm-exporter's UUID label),
- Kubernetes generated names use the alphabet of apimachinery's rand.String
  ("bcdfghjklmnpqrstvwxz2456789"): 5 characters for pod suffixes, 9-10 for a
  ReplicaSet's pod-template-hash.
"""

from __future__ import annotations

import numpy as np

K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d")
REGION = "us-east-1"


def hex_string(rng: np.random.Generator, n: int) -> str:
    return rng.bytes((n + 1) // 2).hex()[:n]


def k8s_suffix(rng: np.random.Generator, n: int = 5) -> str:
    return "".join([K8S_ALPHABET[i] for i in rng.integers(0, len(K8S_ALPHABET), n).tolist()])


def gpu_uuid(rng: np.random.Generator) -> str:
    h = hex_string(rng, 32)
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def pod_uid(rng: np.random.Generator) -> str:
    h = hex_string(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def instance_id(rng: np.random.Generator) -> str:
    return "i-0" + hex_string(rng, 16)


def system_uuid(rng: np.random.Generator) -> str:
    h = hex_string(rng, 32)
    return f"ec2{h[3:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class NodeIps:
    """Allocates unique private IPs per zone subnet (10.1.64*z.0/18) -> EKS node names."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._used: set[tuple[int, int]] = set()

    def take(self, zone: str) -> str:
        z = ZONES.index(zone)
        while True:
            third = 64 * z + int(self._rng.integers(0, 64))
            fourth = int(self._rng.integers(1, 255))
            if (third, fourth) not in self._used:
                self._used.add((third, fourth))
                return f"10.1.{third}.{fourth}"


def node_name(ip: str) -> str:
    return "ip-" + ip.replace(".", "-") + ".ec2.internal"


def label_name(key: str) -> str:
    """kube-state-metrics' sanitised label name for a Kubernetes label key."""
    return "label_" + "".join(c if c.isalnum() or c == "_" else "_" for c in key)
