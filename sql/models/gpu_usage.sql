-- materialize: incremental(ts)
-- One row per GPU device per step (DESIGN.md public table). state, exactly one of:
--   no_data        no DCGM sample with an activity value for the device at the step
--   unallocated    a sample, and no pod holds the device
--   active         held, activity_pct >= $idle_threshold_pct
--   allocated_idle held, activity_pct below the threshold
-- gpu_hours = the device's fraction of a physical GPU x step length in hours.
-- cost_usd = the node's GPU cost for the step / gpu_count x the device's fraction,
-- so a node's devices add up to its GPU cost at every step.
with

devices as (
    select * from stg_gpu_devices
),

node_steps as (
    select * from int_node_steps
),

samples as (
    select * from stg_dcgm_samples
),

allocations as (
    select * from stg_pod_allocations
),

device_steps as (
    select
        d.*,
        ns.ts,
        ns.instance_type,
        ns.capacity_type,
        ns.gpu_count,
        ns.gpu_cost_usd,
        ns.price_source
    from devices as d
    join node_steps as ns
        on ns.cluster = d.cluster and ns.node = d.node
        and ns.ts >= d.valid_from and ns.ts < d.valid_to
),

held_steps as (
    select
        a.*,
        unnest(range(time_bucket(to_seconds($step_seconds), a.valid_from), a.valid_to,
                     to_seconds($step_seconds))) as ts
    from allocations as a
),

held as (
    -- one holder per device-step; if intervals overlap, the latest-starting pod holds it
    select distinct on (cluster, device_id, ts) *
    from held_steps
    order by cluster, device_id, ts, valid_from desc, namespace, pod
),

joined as (
    select
        ds.*,
        s.activity_pct,
        s.mem_used_bytes,
        s.mem_total_bytes as sampled_mem_total_bytes,
        s.power_w,
        h.namespace,
        h.pod,
        h.job,
        h.team
    from device_steps as ds
    left join samples as s
        on s.cluster = ds.cluster and s.device_id = ds.device_id and s.ts = ds.ts
    left join held as h
        on h.cluster = ds.cluster and h.device_id = ds.device_id and h.ts = ds.ts
),

final as (
    select
        ts,
        cluster,
        node,
        instance_type,
        capacity_type,
        gpu_uuid,
        gpu_index,
        device_id,
        gpu_model,
        mig_profile,
        namespace,
        pod,
        job,
        team,
        case
            when activity_pct is null then 'no_data'
            when pod is null then 'unallocated'
            when activity_pct >= $idle_threshold_pct then 'active'
            else 'allocated_idle'
        end as state,
        activity_pct as util_pct,
        mem_used_bytes,
        coalesce(sampled_mem_total_bytes, mem_total_bytes) as mem_total_bytes,
        power_w,
        gpu_fraction * $step_seconds / 3600.0 as gpu_hours,
        round(gpu_cost_usd::double * gpu_fraction / gpu_count, 15) as cost_usd,
        price_source
    from joined
    order by ts, cluster, node, device_id
)

select * from final
