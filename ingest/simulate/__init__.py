"""Deterministic simulated GPU fleet: the embedded demo data source.

A mixed AWS fleet (p5 H100, p4d A100 incl. MIG, g5 A10G, g6 L4; on-demand and spot with
interruptions) running training jobs, inference Deployments, notebooks and batch Jobs,
with dcgm-exporter telemetry calibrated to public traces (AcmeTrace, Alibaba GenAI 2026).
The same SimConfig always gives the same rows.

Public API:
    SimConfig, SimSummary
    simulate_to_warehouse(con, cfg, progress=None) -> SimSummary
        raw_nodes, raw_gpu_devices, raw_pod_allocations, raw_dcgm_samples and raw_prices
        (spot history), source 'simulator', one RawLoad per UTC day.
    write_openmetrics(cfg, out)
        the same data as OpenMetrics text (dcgm-exporter + kube-state-metrics names),
        timestamps in seconds, ending with '# EOF'.

Modules: config (SimConfig, steps, random streams), calibration (embedded distributions
and their sources), names (identifiers), fleet (nodes, devices, spot interruptions),
workloads (jobs and pods), placement (free-device index), scheduler (event simulation),
outages (telemetry gaps), telemetry (DCGM values), prices (spot history), world (all of it
for one config), tables (Arrow rows per day), loader (warehouse), openmetrics (text).
"""

from gpucost.ingest.simulate.config import SimConfig
from gpucost.ingest.simulate.loader import SimSummary, simulate_to_warehouse
from gpucost.ingest.simulate.openmetrics import write_openmetrics

__all__ = ["SimConfig", "SimSummary", "simulate_to_warehouse", "write_openmetrics"]
