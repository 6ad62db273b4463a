-- materialize: incremental(ts)
-- The facts of gpu_usage (DESIGN.md public table; the view gpu_usage joins the
-- dimensions gpu_usage_devices and gpu_usage_pods): one row per GPU device per step.
-- state, exactly one of:
--   no_data        no DCGM sample with an activity value for the device at the step
--   unallocated    a sample, and no pod holds the device
--   active         held, activity_pct >= $idle_threshold_pct
--   allocated_idle held, activity_pct below the threshold
-- gpu_hours = the device's fraction of a physical GPU x step length in hours.
-- cost_usd = the node's GPU cost for the step / gpu_count x the device's fraction,
-- so a node's devices add up to its GPU cost at every step.
-- Holder: the allocation on the device that started last at or before the step, if it has
-- not ended by then (each allocation is cut at the start of the device's next one, so a range
-- join finds it: an as-of join would sort every step). Shared devices (time-slicing, MPS: two
-- pods' allocations of one device overlap in time) get one row per pod holding it at the step,
-- each with an even share (1 / holders) of the device's gpu_hours and cost_usd, and the device's state:
-- dcgm-exporter reports a shared device's activity once, not per pod, so there is no usage to
-- split by. The rows of a device still add up to its cost at every step.
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

spine as (
    select
        d.device_idx,
        d.device_key,
        ns.ts,
        d.node_key,
        d.gpu_fraction,
        round(ns.gpu_cost_usd::double * d.gpu_fraction / ns.gpu_count, 15) as cost_usd,
        ns.price_source
    from devices as d
    join node_steps as ns
        on ns.node_key = d.node_key
        and ns.ts >= d.valid_from and ns.ts < d.valid_to
),

shared_devices as (
    select distinct a.device_idx
    from allocations as a
    join allocations as b
        on b.device_idx = a.device_idx and b.alloc_idx > a.alloc_idx and b.pod_key <> a.pod_key
        and b.valid_from < a.valid_to and a.valid_from < b.valid_to
),

exclusive as (
    select device_idx, pod_key, valid_from,
        least(valid_to, coalesce(lead(valid_from) over (partition by device_idx order by alloc_idx), valid_to)) as valid_to
    from allocations
    where device_idx not in (select device_idx from shared_devices)
),

held_alone as (
    select
        sp.*,
        a.pod_key,
        1 as holders
    from (select * from spine where device_idx not in (select device_idx from shared_devices)) as sp
    left join exclusive as a
        on a.device_idx = sp.device_idx and sp.ts >= a.valid_from and sp.ts < a.valid_to
),

held_shared_pods as (
    select distinct sp.*, a.pod_key
    from (select * from spine where device_idx in (select device_idx from shared_devices)) as sp
    left join allocations as a
        on a.device_idx = sp.device_idx and sp.ts >= a.valid_from and sp.ts < a.valid_to
),

held as (
    select * from held_alone
    union all
    select *, greatest(count(pod_key) over (partition by device_idx, ts), 1) as holders
    from held_shared_pods
),

observed as (
    select
        h.*,
        s.activity_pct,
        s.mem_used_bytes,
        s.mem_total_bytes,
        s.power_w,
        s.throttled_pct
    from held as h
    left join samples as s
        on s.device_idx = h.device_idx and s.ts = h.ts
),

final as (
    select
        ts,
        device_key,
        pod_key,
        case
            when activity_pct is null then 'no_data'
            when pod_key is null then 'unallocated'
            when activity_pct >= $idle_threshold_pct then 'active'
            else 'allocated_idle'
        end::gpu_state as state,
        activity_pct as util_pct,
        mem_used_bytes,
        mem_total_bytes,
        power_w,
        gpu_fraction * $step_seconds / 3600.0 / holders as gpu_hours,
        case when holders = 1 then cost_usd else round(cost_usd / holders, 15) end as cost_usd,
        price_source,
        throttled_pct
    from observed
)

select * from final
