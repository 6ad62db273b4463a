"""The build written as a competent notebook user would write it in pandas.

Same inputs (the raw_* tables), same rules as sql/models (price precedence spot > list,
GPU share by resource rates, MIG fractions, no_data for missing samples, synthetic devices
for unseen GPUs), vectorised merges and groupbys, one UTC day at a time so a month fits in
memory. Writes gpu_usage per day to Parquet and returns per-state and per-job totals so the
benchmark can check it computed the same thing as `gpucost build`.

Simplifications that do not change the demo's numbers: one source per table (no
de-duplication across sources), no price overrides, no on-demand list rows in raw_prices.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gpucost.ingest.catalog import catalog_table
from gpucost.settings import Settings


def _expand(frame: pd.DataFrame, start: str, end: str, step: pd.Timedelta) -> pd.DataFrame:
    """One row per step for every [start, end) interval (steps aligned to the step)."""
    frame = frame.reset_index(drop=True)
    first = frame[start].dt.floor(step)
    counts = ((frame[end] - first + step - pd.Timedelta(microseconds=1)) // step).astype(np.int64).clip(lower=0)
    out = frame.iloc[np.repeat(np.arange(len(frame)), counts.to_numpy())].reset_index(drop=True)
    offsets = np.arange(len(out)) - np.repeat(np.cumsum(counts.to_numpy()) - counts.to_numpy(), counts.to_numpy())
    out["ts"] = first.repeat(counts).to_numpy() + offsets * step.to_timedelta64()
    return out


def run(db: Path, settings: Settings, out_dir: Path) -> dict:
    step = pd.Timedelta(seconds=settings.step_seconds)
    step_h = settings.step_seconds / 3600.0
    con = duckdb.connect(str(db), read_only=True)
    nodes_all = con.execute("select * from raw_nodes where gpu_count > 0").df()
    devices_all = con.execute("select * from raw_gpu_devices").df()
    pods_all = con.execute("select * from raw_pod_allocations").df()
    spot = con.execute("select * from raw_prices where kind = 'spot' order by effective_at").df()
    catalog = catalog_table().to_pandas()
    start, end = con.execute("select min(ts), max(ts) from raw_dcgm_samples").fetchone()
    day = datetime(start.year, start.month, start.day)
    out_dir.mkdir(parents=True, exist_ok=True)
    state_totals, job_parts, asset_parts = [], [], []
    while day <= end:
        nxt = day + timedelta(days=1)
        ws, we = pd.Timestamp(day), pd.Timestamp(nxt)

        nodes = nodes_all[(nodes_all.valid_from < we) & (nodes_all.valid_to > ws)].copy()
        nodes["valid_from"] = nodes.valid_from.clip(lower=ws)
        nodes["valid_to"] = nodes.valid_to.clip(upper=we)
        nodes = nodes.merge(catalog[["instance_type", "vcpu", "memory_mib", "usd_per_hour"]],
                            on="instance_type", how="left")
        node_steps = _expand(nodes, "valid_from", "valid_to", step).sort_values("ts")
        node_steps["zone"] = node_steps["zone"].fillna("")
        priced = pd.merge_asof(node_steps, spot.rename(columns={"usd_per_hour": "spot_usd"})[
            ["instance_type", "zone", "effective_at", "spot_usd"]],
            left_on="ts", right_on="effective_at", by=["instance_type", "zone"], direction="backward")
        use_spot = (priced.capacity_type == "spot") & priced.spot_usd.notna()
        priced["price"] = np.where(use_spot, priced.spot_usd, priced.usd_per_hour)
        priced["price_source"] = np.where(use_spot, "spot_history", "catalog_list")
        cpu = priced.cpu_cores.fillna(priced.vcpu)
        mem_gib = priced.memory_bytes.fillna(priced.memory_mib * 1048576) / 2**30
        rates = cpu * settings.cost.cpu_usd_per_vcpu_hour + mem_gib * settings.cost.ram_usd_per_gib_hour
        priced["gpu_share"] = (1 - rates / priced.price).clip(0, 1)
        priced["node_cost"] = priced.price * step_h
        priced["gpu_cost"] = priced.node_cost * priced.gpu_share
        asset_parts.append(priced.groupby(["node", "price_source"], as_index=False)[["node_cost", "gpu_cost"]].sum())

        devices = devices_all[(devices_all.valid_from < we) & (devices_all.valid_to > ws)].copy()
        devices = devices.merge(nodes[["node", "valid_from", "valid_to", "gpu_count"]], on="node",
                                suffixes=("", "_node"))
        devices = devices[(devices.valid_from < devices.valid_to_node) & (devices.valid_to > devices.valid_from_node)
                          & (devices.gpu_index < devices.gpu_count)].copy()
        devices["valid_from"] = devices[["valid_from", "valid_from_node"]].max(axis=1)
        devices["valid_to"] = devices[["valid_to", "valid_to_node"]].min(axis=1)
        slices = devices.mig_profile.str.extract(r"^(\d+)g\.")[0].astype(float).fillna(1.0)
        devices["slices"] = slices
        devices["fraction"] = slices / devices.groupby(["node", "gpu_uuid", "valid_from"]).slices.transform("sum")
        # GPUs the node reports but no device row covers: synthetic, always no_data
        idx = nodes.loc[nodes.index.repeat(nodes.gpu_count)].copy()
        idx["gpu_index"] = idx.groupby(level=0).cumcount()
        seen = devices[["node", "gpu_index"]].drop_duplicates().assign(seen=True)
        unseen = idx.merge(seen, on=["node", "gpu_index"], how="left")
        unseen = unseen[unseen.seen.isna()]
        unseen = unseen.assign(device_id=unseen.node + "/gpu" + unseen.gpu_index.astype(str),
                               gpu_uuid=lambda f: f.device_id, fraction=1.0, mig_profile=None)
        cols = ["node", "device_id", "gpu_uuid", "gpu_index", "mig_profile", "fraction", "valid_from", "valid_to"]
        devices = pd.concat([devices[cols], unseen[cols]], ignore_index=True)
        device_steps = _expand(devices, "valid_from", "valid_to", step).drop(columns=["valid_from", "valid_to"])
        device_steps = device_steps.merge(priced[["node", "ts", "gpu_cost", "gpu_count", "price_source",
                                                  "instance_type", "capacity_type"]], on=["node", "ts"])

        samples = con.execute("select * from raw_dcgm_samples where ts >= ? and ts < ?", [day, nxt]).df()
        samples["device_id"] = np.where(samples.mig_instance_id.isna(), samples.gpu_uuid,
                                        samples.gpu_uuid + "/" + samples.mig_instance_id.astype("Int64").astype(str))
        samples["activity"] = (samples.gr_engine_active * 100).fillna(samples.gpu_util)
        samples["mem_used_bytes"] = samples.fb_used_mib * 1048576
        samples = samples[["device_id", "ts", "activity", "mem_used_bytes", "power_w"]]

        pods = pods_all[(pods_all.valid_from < we) & (pods_all.valid_to > ws)].copy()
        pods["valid_from"] = pods.valid_from.clip(lower=ws)
        pods["valid_to"] = pods.valid_to.clip(upper=we)
        pods["job"] = pods.owner_name.fillna(pods.pod)
        pods["team"] = pods["labels"].map(lambda m: dict(m).get(settings.team_label) if m is not None else None)
        pods["team"] = pods.team.fillna(pods.namespace)
        pods = pods.explode("devices").rename(columns={"devices": "device_id"})
        held = _expand(pods[["namespace", "pod", "job", "team", "device_id", "valid_from", "valid_to"]],
                       "valid_from", "valid_to", step).drop(columns=["valid_from", "valid_to"])
        held = held.drop_duplicates(["device_id", "ts"], keep="last")

        usage = device_steps.merge(samples, on=["device_id", "ts"], how="left").merge(
            held, on=["device_id", "ts"], how="left")
        usage["state"] = np.select(
            [usage.activity.isna(), usage.pod.isna(), usage.activity >= settings.idle_threshold_pct],
            ["no_data", "unallocated", "active"], "allocated_idle")
        usage["gpu_hours"] = usage.fraction * step_h
        usage["cost_usd"] = usage.gpu_cost * usage.fraction / usage.gpu_count
        pq.write_table(pa.Table.from_pandas(usage, preserve_index=False), out_dir / f"gpu_usage_{day:%Y%m%d}.parquet")

        state_totals.append(usage.groupby("state")[["gpu_hours", "cost_usd"]].sum())
        observed = usage[usage.state.isin(["active", "allocated_idle"])]
        job_parts.append(observed.groupby(["namespace", "job"])[["gpu_hours", "cost_usd"]].sum())
        day = nxt
    con.close()
    states = pd.concat(state_totals).groupby(level=0).sum()
    jobs = pd.concat(job_parts).groupby(level=[0, 1]).sum()
    assets = pd.concat(asset_parts).groupby(["node", "price_source"]).sum()
    return {"states": states, "jobs": jobs, "asset_gpu_cost": float(assets.gpu_cost.sum())}
