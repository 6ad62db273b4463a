-- gpucost warehouse, schema version 6 (numbered after 0005_fragmentation_recommendations).
--
-- More dcgm-exporter fields in raw_dcgm_samples (ingest/prometheus/queries.py DCGM_FIELDS
-- names the field each column holds). Gauges are the step's mean (temperatures: its max);
-- counters are their increase over the step (energy, NVLink bytes, PCIe replays, the
-- power/thermal violation times); xid_error is the largest XID code seen in the step (0: none).
alter table raw_dcgm_samples add column fb_reserved_mib double;       -- DCGM_FI_DEV_FB_RESERVED, MiB
alter table raw_dcgm_samples add column gpu_temp_c double;            -- DCGM_FI_DEV_GPU_TEMP, C (max)
alter table raw_dcgm_samples add column mem_temp_c double;            -- DCGM_FI_DEV_MEMORY_TEMP, C (max)
alter table raw_dcgm_samples add column sm_clock_mhz double;          -- DCGM_FI_DEV_SM_CLOCK, MHz
alter table raw_dcgm_samples add column mem_copy_util double;         -- DCGM_FI_DEV_MEM_COPY_UTIL, %
alter table raw_dcgm_samples add column sm_occupancy double;          -- DCGM_FI_PROF_SM_OCCUPANCY, ratio
alter table raw_dcgm_samples add column energy_mj double;             -- DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION, mJ per step
alter table raw_dcgm_samples add column xid_error double;             -- DCGM_FI_DEV_XID_ERRORS, last XID code (max)
alter table raw_dcgm_samples add column nvlink_bytes double;          -- DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL, per step
alter table raw_dcgm_samples add column pcie_replays double;          -- DCGM_FI_DEV_PCIE_REPLAY_COUNTER, per step
alter table raw_dcgm_samples add column power_violation_us double;    -- DCGM_FI_DEV_POWER_VIOLATION, us per step
alter table raw_dcgm_samples add column thermal_violation_us double;  -- DCGM_FI_DEV_THERMAL_VIOLATION, us per step

-- Share of the step the GPU was held back by its power or thermal limit (the larger of the
-- two violation times / the step, %); null when the exporter does not report them.
alter table gpu_usage_steps add column throttled_pct double;

create or replace view gpu_usage as
select
    f.ts,
    d.cluster,
    d.node,
    d.instance_type,
    d.capacity_type,
    d.gpu_uuid,
    d.gpu_index,
    d.device_id,
    d.gpu_model,
    d.mig_profile,
    p.namespace,
    p.pod,
    p.job,
    p.team,
    f.state,
    f.util_pct,
    f.mem_used_bytes,
    coalesce(f.mem_total_bytes, d.mem_total_bytes) as mem_total_bytes,
    f.power_w,
    f.gpu_hours,
    f.cost_usd,
    f.price_source,
    f.throttled_pct
from gpu_usage_steps as f
join gpu_usage_devices as d on d.device_key = f.device_key
left join gpu_usage_pods as p on p.pod_key = f.pod_key;
