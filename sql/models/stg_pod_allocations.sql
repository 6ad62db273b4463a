-- materialize: temp
-- Device-level allocation intervals in the window, with the pod's job and team.
-- job = the pod label $job_label when set, else the pod's top owner, else the pod;
-- team = the pod label $team_label when set, else the namespace.
with

allocations as (
    select * from raw_pod_allocations
    where valid_from < $window_end and valid_to > $window_start
),

by_device as (
    select
        cluster,
        namespace,
        pod,
        node,
        greatest(valid_from, $window_start) as valid_from,
        least(valid_to, $window_end) as valid_to,
        unnest(devices) as device_id,
        owner_kind,
        coalesce(nullif(labels[$job_label], ''), owner_name, pod) as job,
        coalesce(nullif(labels[$team_label], ''), namespace) as team
    from allocations
),

final as (
    select * from by_device where device_id is not null
)

select * from final
