"""Import the Alibaba GenAI serving trace (cluster-trace-v2026-GenAI) as DCGM-equivalent data.

Inputs (the trace's infrastructure layer, joined on ``container_ip``, an MD5 of the pod IP):
  pod_gpu_duty_cycle_anon.csv        value (GPU duty cycle, %), timestamp_anon (Unix s), container_ip
  pod_gpu_memory_used_bytes_anon.csv timestamp_anon, value (GPU memory used, bytes), container_ip
Samples come about every 57 s. Each container is one serving pod holding one GPU of 48 GiB
(the trace's largest sample is 47.3 GiB), alone on a node of ``instance_type`` (default
g6e.xlarge, one 48 GB-class L40S, for the price). Per pod and step the importer writes
(the collector's downsampling, ``avg_over_time`` over the step):
  raw_dcgm_samples  gpu_util = mean duty cycle of the samples in the step (the trace has no
                    PROF fields, so activity is GPU_UTIL as for any exporter without DCP);
                    fb_used_mib / fb_free_mib from the mean memory used; steps with no
                    duty-cycle sample have no gpu_util and build as no_data, never idle
  raw_pod_allocations / raw_nodes / raw_gpu_devices
                    the pod holds its GPU from its first to its last sample (either file)
Names: pod ``genai-<first 12 hex of container_ip>`` in namespace ``genai-serving`` (its
team), node ``genai-node-<same>``, GPU ``GPU-genai-<same>``. Timestamps stay as anonymised.

Every problem raises GpucostError naming the file (and the column or row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from gpucost.errors import GpucostError
from gpucost.ingest.catalog import catalog
from gpucost.ingest.loads import Window, load_tables

SOURCE = "alibaba-genai-2026"
NAMESPACE = "genai-serving"
GPU_MEMORY_BYTES = 48 * 2**30
MIB = 1048576
DUTY_COLUMNS = ("value", "timestamp_anon", "container_ip")
MEMORY_COLUMNS = ("timestamp_anon", "value", "container_ip")

SAMPLES_SQL = """
with duty as (
    select container_ip, time_bucket(to_seconds($step), make_timestamp((timestamp_anon * 1e6)::bigint)) as ts,
           avg(value) as util
    from _duty group by all
),
memory as (
    select container_ip, time_bucket(to_seconds($step), make_timestamp((timestamp_anon * 1e6)::bigint)) as ts,
           avg(value) as used
    from _memory group by all
)
select container_ip, ts, d.util, m.used
from duty as d full join memory as m using (container_ip, ts)
order by container_ip, ts
"""


@dataclass(frozen=True)
class GenaiImport:
    pods: int
    steps: int
    window: Window
    rows: dict[str, int]


def _read(con: duckdb.DuckDBPyConnection, path: Path, columns: tuple[str, ...], name: str) -> None:
    if not Path(path).is_file():
        raise GpucostError(f"{path}: no such file")
    try:
        header = [c[0] for c in con.execute("select * from read_csv(?, header = true) limit 0", [str(path)]).description]
    except duckdb.Error as exc:
        raise GpucostError(f"{path}: cannot read as CSV: {str(exc).splitlines()[0]}") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise GpucostError(f"{path}: missing column(s) {', '.join(missing)} (header: {', '.join(header)})")
    try:
        con.execute(f"create or replace temp table {name} as select timestamp_anon::double as timestamp_anon, "
                    "value::double as value, container_ip::varchar as container_ip "
                    "from read_csv(?, header = true, all_varchar = true)", [str(path)])
    except duckdb.ConversionException as exc:
        raise GpucostError(f"{path}: {str(exc).splitlines()[0]}") from None
    first, bad = con.execute(
        f"select min(line), count(*) from (select row_number() over () + 1 as line, * from {name}) "
        "where timestamp_anon is null or value is null or container_ip is null or value < 0 "
        "or isnan(value) or isinf(value)").fetchone()
    if bad:
        raise GpucostError(f"{path}: line {first}: empty or invalid value ({bad} such rows)")


def tables(duty_csv: Path, memory_csv: Path, step_seconds: int, cluster: str,
           instance_type: str = "g6e.xlarge") -> tuple[Window, list[tuple[str, pa.Table]], int]:
    """The raw tables for the trace (see the module docstring), their load window (whole UTC
    days) and the number of pods."""
    if instance_type not in catalog():
        raise GpucostError(f"unknown instance type {instance_type!r} (not in the packaged catalog)")
    con = duckdb.connect()
    try:
        _read(con, duty_csv, DUTY_COLUMNS, "_duty")
        _read(con, memory_csv, MEMORY_COLUMNS, "_memory")
        cursor = con.execute(SAMPLES_SQL, {"step": step_seconds})
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r)) for r in cursor.fetchall()]
    finally:
        con.close()
    if not rows:
        raise GpucostError(f"{duty_csv}: no samples")
    step = timedelta(seconds=step_seconds)
    spans: dict[str, list[datetime]] = {}
    for r in rows:
        span = spans.setdefault(r["container_ip"], [r["ts"], r["ts"]])
        span[0], span[1] = min(span[0], r["ts"]), max(span[1], r["ts"])
    first = min(s[0] for s in spans.values())
    last = max(s[1] for s in spans.values()) + step
    day0 = first.replace(hour=0, minute=0, second=0, microsecond=0)
    days = -(-(last - day0) // timedelta(days=1))
    window = Window(day0, day0 + timedelta(days=days))

    def ids(ip: str) -> tuple[str, str, str]:
        short = ip[:12]
        return f"genai-{short}", f"genai-node-{short}", f"GPU-genai-{short}"

    dcgm = pa.Table.from_pylist([{
        "ts": r["ts"], "cluster": cluster, "node": ids(r["container_ip"])[1], "gpu_index": 0,
        "gpu_uuid": ids(r["container_ip"])[2], "pod": ids(r["container_ip"])[0], "namespace": NAMESPACE,
        "gpu_util": r["util"],
        "fb_used_mib": None if r["used"] is None else r["used"] / MIB,
        "fb_free_mib": None if r["used"] is None else max(0.0, (GPU_MEMORY_BYTES - r["used"]) / MIB),
    } for r in rows])
    nodes, devices, pods = [], [], []
    for ip, (start, end) in sorted(spans.items()):
        pod, node, uuid = ids(ip)
        interval = dict(cluster=cluster, node=node, valid_from=start, valid_to=end + step)
        nodes.append(interval | dict(instance_type=instance_type, capacity_type="on_demand", gpu_count=1))
        devices.append(interval | dict(device_id=uuid, gpu_index=0, gpu_uuid=uuid, mem_total_bytes=GPU_MEMORY_BYTES))
        pods.append(interval | dict(namespace=NAMESPACE, pod=pod, gpu_request=1, devices=[uuid],
                                    labels=[("gpucost.io/trace", "alibaba-genai-2026"),
                                            ("gpucost.io/container-ip", ip)]))
    pod_table = pa.Table.from_pylist(pods, schema=pa.schema([
        ("cluster", pa.string()), ("node", pa.string()), ("valid_from", pa.timestamp("us")),
        ("valid_to", pa.timestamp("us")), ("namespace", pa.string()), ("pod", pa.string()),
        ("gpu_request", pa.int32()), ("devices", pa.list_(pa.string())),
        ("labels", pa.map_(pa.string(), pa.string()))]))
    return window, [("raw_nodes", pa.Table.from_pylist(nodes)), ("raw_gpu_devices", pa.Table.from_pylist(devices)),
                    ("raw_pod_allocations", pod_table), ("raw_dcgm_samples", dcgm)], len(spans)


def import_genai(con: duckdb.DuckDBPyConnection, duty_csv: Path, memory_csv: Path, step_seconds: int,
                 cluster: str, instance_type: str = "g6e.xlarge") -> GenaiImport:
    """Load the trace into the raw tables as one load (replacing an earlier import of it)."""
    window, data, pods = tables(duty_csv, memory_csv, step_seconds, cluster, instance_type)
    rows = load_tables(con, SOURCE, window, data)
    return GenaiImport(pods, rows["raw_dcgm_samples"], window, rows)
