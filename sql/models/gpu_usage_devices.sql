-- materialize: merge(device_key)
-- Dimension of gpu_usage: a GPU device with its node's attributes. The key is a hash of
-- all of them, so a row never changes once written; new combinations are added.
with

devices as (
    select * from stg_gpu_devices
),

final as (
    select distinct
        device_key, cluster, node, instance_type, capacity_type, gpu_uuid, gpu_index,
        device_id, gpu_model, mig_profile, mem_total_bytes
    from devices
)

select * from final
