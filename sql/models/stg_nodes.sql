-- materialize: temp
-- GPU nodes alive in the build window, clipped to it, with capacity and catalog facts.
-- Region falls back to $default_region; vCPU/RAM fall back to the catalog (ref_instance_types).
-- instance_id is the EC2 instance id at the end of provider_id (aws:///us-east-1a/i-0abc...),
-- the key billing line items (resource_id) are matched on. nvswitch: the catalog says all the
-- node's GPUs sit behind one NVSwitch (one NVLink domain).
with

raw_nodes as (
    select * from raw_nodes
    where valid_from < $window_end and valid_to > $window_start and gpu_count > 0
),

catalog as (
    select * from ref_instance_types
),

clipped as (
    select
        n.cluster,
        n.node,
        greatest(n.valid_from, $window_start) as valid_from,
        least(n.valid_to, $window_end) as valid_to,
        n.instance_type,
        coalesce(n.capacity_type, 'on_demand') as capacity_type,
        coalesce(n.region, $default_region) as region,
        n.zone,
        coalesce(n.gpu_model, c.device_model) as gpu_model,
        n.gpu_count,
        coalesce(n.cpu_cores, c.vcpu) as cpu_cores,
        coalesce(n.memory_bytes, c.memory_mib * 1048576) as memory_bytes,
        n.provider_id,
        coalesce(c.nvswitch, false) as nvswitch,
        n.labels,
        nullif(regexp_extract(n.provider_id, '(i-[0-9a-zA-Z]+)$', 1), '') as instance_id
    from raw_nodes as n
    left join catalog as c using (instance_type)
),

deduped as (
    -- one row per node interval; the same interval loaded by two sources counts once
    select distinct on (cluster, node, valid_from) *
    from clipped
    order by cluster, node, valid_from, valid_to desc
),

final as (
    -- node_key: a dense integer key for the window's joins
    select row_number() over (order by cluster, node, valid_from) as node_key, *
    from deduped
)

select * from final
