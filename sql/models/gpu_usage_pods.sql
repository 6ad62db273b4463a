-- materialize: merge(pod_key)
-- Dimension of gpu_usage: a pod holding GPUs, with its job and team. The key is a hash of
-- all of them, so a row never changes once written; new combinations are added.
with

allocations as (
    select * from stg_pod_allocations
),

final as (
    select distinct pod_key, cluster, namespace, pod, job, team
    from allocations
)

select * from final
