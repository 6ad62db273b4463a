-- materialize: temp
-- GPU devices per node interval: whole GPUs and MIG instances, each with the fraction of its
-- physical GPU it stands for. A MIG instance's fraction is its compute slices (the N of
-- 'Ng.Mgb') over the slices of all instances on that GPU, so a GPU's devices sum to 1.
-- Physical GPUs a node reports (gpu_count) but no collector saw get a synthetic device
-- '<node>/gpu<i>' so their cost is never lost: with no telemetry they are no_data.
-- device_idx is a dense integer key for the window's joins (device intervals in order);
-- device_key identifies the device with its node attributes across windows
-- (gpu_device_key of them all, a macro of the schema: the key of gpu_usage_devices).
-- nvlink_domain: as collected, else the clique a DRA ResourceSlice gives the GPU
-- (raw_dra_allocations), else the node's nvidia.com/gpu.clique label (GPU feature
-- discovery), else the node itself when the catalog puts its GPUs behind one NVSwitch
-- (p4d, p5, ...), else null (no NVLink peers known).
with

nodes as (
    select * from stg_nodes
),

raw_devices as (
    select * from raw_gpu_devices
    where valid_from < $window_end and valid_to > $window_start
),

claimed_cliques as (
    select cluster, gpu_uuid, max(nvlink_domain) as nvlink_domain
    from raw_dra_allocations
    where nvlink_domain is not null and gpu_uuid is not null
    group by cluster, gpu_uuid
),

seen as (
    select
        n.node_key,
        n.instance_type,
        n.capacity_type,
        d.cluster,
        d.node,
        greatest(d.valid_from, n.valid_from) as valid_from,
        least(d.valid_to, n.valid_to) as valid_to,
        d.device_id,
        d.gpu_index,
        d.gpu_uuid,
        coalesce(d.gpu_model, n.gpu_model) as gpu_model,
        d.mig_instance_id,
        d.mig_profile,
        d.mem_total_bytes,
        coalesce(d.nvlink_domain, c.nvlink_domain, n.labels['nvidia.com/gpu.clique'],
                 case when n.nvswitch then d.cluster || '/' || d.node end) as nvlink_domain,
        coalesce(try_cast(regexp_extract(d.mig_profile, '^(\d+)g\.', 1) as integer), 1) as compute_slices
    from raw_devices as d
    left join claimed_cliques as c on c.cluster = d.cluster and c.gpu_uuid = d.gpu_uuid
    join nodes as n
        on n.cluster = d.cluster and n.node = d.node
        and d.valid_from < n.valid_to and d.valid_to > n.valid_from
        and d.gpu_index < n.gpu_count
),

seen_deduped as (
    select distinct on (cluster, node, device_id, valid_from) *
    from seen
    order by cluster, node, device_id, valid_from, valid_to desc, node_key
),

node_gpu_indexes as (
    select n.*, unnest(range(n.gpu_count)) as gpu_index
    from nodes as n
),

unseen as (
    select
        i.node_key,
        i.instance_type,
        i.capacity_type,
        i.cluster,
        i.node,
        i.valid_from,
        i.valid_to,
        i.node || '/gpu' || i.gpu_index as device_id,
        i.gpu_index,
        i.node || '/gpu' || i.gpu_index as gpu_uuid,
        i.gpu_model,
        null::integer as mig_instance_id,
        null::varchar as mig_profile,
        null::bigint as mem_total_bytes,
        coalesce(i.labels['nvidia.com/gpu.clique'], case when i.nvswitch then i.cluster || '/' || i.node end)
            as nvlink_domain,
        1 as compute_slices
    from node_gpu_indexes as i
    anti join seen_deduped as s
        on s.cluster = i.cluster and s.node = i.node and s.gpu_index = i.gpu_index
),

devices as (
    select * from seen_deduped
    union all
    select * from unseen
),

final as (
    select
        row_number() over (order by cluster, node, device_id, valid_from) as device_idx,
        gpu_device_key(cluster, node, instance_type, capacity_type, gpu_uuid, gpu_index,
                       device_id, gpu_model, mig_profile, mem_total_bytes) as device_key,
        *,
        compute_slices / sum(compute_slices) over (
            partition by cluster, node, gpu_uuid, valid_from
        ) as gpu_fraction
    from devices
)

select * from final
