-- materialize: temp
-- DCGM samples in the window, one per device per step, in gpucost units.
-- activity_pct = 100 x DCGM_FI_PROF_GR_ENGINE_ACTIVE when the exporter has it, else
-- DCGM_FI_DEV_GPU_UTIL (coarser: any kernel running in the sample period counts as busy;
-- unsupported on MIG instances, where PROF fields are the only source). A sample with
-- neither is kept, and the device-step becomes no_data.
-- Memory: FB_USED/FB_FREE are MiB; mem_total_bytes = (used + free) MiB.
with

samples as (
    select * from raw_dcgm_samples
    where ts >= $window_start and ts < $window_end
),

converted as (
    select
        cluster,
        node,
        case when mig_instance_id is null then gpu_uuid
             else gpu_uuid || '/' || mig_instance_id end as device_id,
        time_bucket(to_seconds($step_seconds), ts) as ts,
        coalesce(gr_engine_active * 100.0, gpu_util) as activity_pct,
        (fb_used_mib * 1048576)::bigint as mem_used_bytes,
        ((fb_used_mib + fb_free_mib) * 1048576)::bigint as mem_total_bytes,
        power_w,
        source
    from samples
),

final as (
    -- a device-step loaded by two sources counts once (first source by name)
    select distinct on (cluster, device_id, ts)
        cluster, node, device_id, ts, activity_pct, mem_used_bytes, mem_total_bytes, power_w
    from converted
    order by cluster, device_id, ts, source
)

select * from final
