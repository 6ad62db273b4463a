-- materialize: temp
-- Device-level allocation intervals in the window, with the pod's job and team, keyed by
-- the device_idx of stg_gpu_devices; pod_key is the key of gpu_usage_pods. valid_from is floored to the step, so a pod that
-- starts within a step holds the device for that step.
-- job = the pod label $job_label when set, else the pod's top owner, else the pod;
-- team = the pod label $team_label when set, else the namespace.
-- devices: as collected, else the devices the pod's DRA ResourceClaims hold
-- (raw_dra_allocations, any observation: a claim keeps its devices while its pod runs).
with

claimed as (
    select cluster, namespace, pod, list(distinct device_id order by device_id) as devices
    from raw_dra_allocations
    where pod is not null and device_id is not null
    group by cluster, namespace, pod
),

allocations as (
    select a.* replace (coalesce(a.devices, c.devices) as devices)
    from raw_pod_allocations as a
    left join claimed as c using (cluster, namespace, pod)
    where a.valid_from < $window_end and a.valid_to > $window_start
),

devices as (
    select * from stg_gpu_devices
),

by_device as (
    select
        cluster,
        namespace,
        pod,
        node,
        time_bucket(to_seconds($step_seconds), greatest(valid_from, $window_start)) as valid_from,
        least(valid_to, $window_end) as valid_to,
        unnest(devices) as device_id,
        owner_kind,
        coalesce(nullif(labels[$job_label], ''), owner_name, pod) as job,
        coalesce(nullif(labels[$team_label], ''), namespace) as team
    from allocations
),

final as (
    select
        row_number() over (order by d.device_idx, a.valid_from, a.namespace, a.pod) as alloc_idx,
        d.device_idx,
        gpu_pod_key(a.cluster, a.namespace, a.pod, a.job, a.team) as pod_key,
        a.*
    from by_device as a
    join devices as d
        on d.cluster = a.cluster and d.device_id = a.device_id
        and a.valid_from < d.valid_to and a.valid_to > d.valid_from
)

select * from final
