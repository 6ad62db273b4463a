"""Prometheus collector: dcgm-exporter and kube-state-metrics series into the raw tables.

Public API:
    Connection, PromClient                    (client)  HTTP, auth, TLS, retries
    CollectOptions, collect_prometheus, CollectSummary, format_summary   (collect)
    DCGM_FIELDS and the PromQL templates      (queries)
Modules: queries (every PromQL string), client, matrix (JSON -> numpy columns), windows
(load windows, step grid, range splitting), dcgm (raw_dcgm_samples rows), kube (nodes,
devices, pod allocations), collect (orchestration), health (what `gpucost doctor` checks),
local (a local Prometheus for tests and benchmarks, replaying captured /metrics text).
"""

from gpucost.ingest.prometheus.client import Connection, PromClient
from gpucost.ingest.prometheus.collect import CollectOptions, CollectSummary, collect_prometheus, format_summary

__all__ = ["Connection", "PromClient", "CollectOptions", "CollectSummary", "collect_prometheus", "format_summary"]
