-- materialize: temp
-- DCGM samples in the window, one per known device per step, in gpucost units.
-- activity_pct = 100 x DCGM_FI_PROF_GR_ENGINE_ACTIVE when the exporter has it, else
-- DCGM_FI_DEV_GPU_UTIL (coarser: any kernel running in the sample period counts as busy;
-- unsupported on MIG instances, where PROF fields are the only source). A sample with
-- neither is kept, and the device-step becomes no_data.
-- Memory: FB_USED/FB_FREE are MiB; mem_total_bytes = (used + free) MiB.
-- throttled_pct: the larger of the power and thermal violation times in the step (us, their
-- counters' increase) / the step, %, at most 100; null when neither is reported.
-- Sources: when two sources report the same node in the window, the first by name is used
-- for that node; within a source a device has at most one sample per step (collectors
-- guarantee it; the build checks the accounting identity per day and stops if broken).
with

samples as (
    select * from raw_dcgm_samples
    where ts >= $window_start and ts < $window_end
),

devices as (
    select * from stg_gpu_devices
),

node_sources as (
    select cluster, node, min(source) as source
    from samples
    group by cluster, node
),

converted as (
    select
        s.cluster,
        case when s.mig_instance_id is null then s.gpu_uuid
             else s.gpu_uuid || '/' || s.mig_instance_id end as device_id,
        time_bucket(to_seconds($step_seconds), s.ts) as ts,
        coalesce(s.gr_engine_active * 100.0, s.gpu_util) as activity_pct,
        (s.fb_used_mib * 1048576)::bigint as mem_used_bytes,
        ((s.fb_used_mib + s.fb_free_mib) * 1048576)::bigint as mem_total_bytes,
        s.power_w,
        least(greatest(s.power_violation_us, s.thermal_violation_us) / 1e6 / $step_seconds * 100,
              case when coalesce(s.power_violation_us, s.thermal_violation_us) is not null then 100.0 end)
            as throttled_pct
    from samples as s
    semi join node_sources as n
        on n.cluster = s.cluster and n.node = s.node and n.source = s.source
),

final as (
    select
        d.device_idx,
        c.ts,
        c.activity_pct,
        c.mem_used_bytes,
        c.mem_total_bytes,
        c.power_w,
        c.throttled_pct
    from converted as c
    join devices as d
        on d.cluster = c.cluster and d.device_id = c.device_id
        and c.ts >= d.valid_from and c.ts < d.valid_to
)

select * from final
