-- materialize: incremental(ts)
-- Fragmentation per GPU node per step (DESIGN.md public table). Free capacity = GPU
-- devices no pod holds at the step (gpu_usage_steps.pod_key is null, with or without
-- telemetry), in milli-GPUs per physical GPU (a MIG slice counts its gpu_fraction).
--
-- The workload M of a node is the recent request mix of its GPU model: the shapes
-- (GPUs per pod, milli-GPUs per GPU, CPU cores, memory bytes) of the pods that held GPUs of
-- that model in the 7 days up to the window's end, as analytics/placement's "typical pods":
-- sorted by pod count (ties: larger shape first), the shortest prefix covering >= 95 % of
-- the pods, popularity = pod count / the prefix's pods. A MIG pod is one GPU of 1000 x N/7
-- milli-GPUs for an 'Ng.*' profile (A100/H100/H200 have 7 compute slices). Pods constrain
-- their GPU model, so a node is measured against the shapes that run on its model only.
--
-- FGD (Weng et al., USENIX ATC'23, Sec. 4, as analytics/placement/fragmentation.py): shape
-- m fits node n when n's free CPU covers m's request (unknown request or capacity: fits)
-- and either m takes whole GPUs and n has that many fully free GPUs, or m takes a fraction
-- and some GPU has that much free. Fragment of m: all free capacity when m does not fit,
-- else the free capacity on GPUs too small for m (partially free GPUs for a whole-GPU
-- shape). frag_gpu_milli = sum over M of popularity x fragment. Memory is not part of it.
--
-- Stranded: the free capacity of a node that none of the common shapes (popularity >= 5 %)
-- fits, now counting memory too; stranded_reason: why the most popular common shape that
-- fits by GPUs does not fit ('cpu', else 'memory'), or 'gpus' when none fits by GPU count.
-- largest_free_block: fully free GPUs on the node (the largest whole-GPU request it takes);
-- nvlink_free_block: the most fully free GPUs in one NVLink domain (null: topology unknown).
-- cpu_free_cores / memory_free_bytes: node capacity minus the requests of the GPU pods on it
-- (pods of other kinds are not collected; pods with unknown requests count 0).
-- free_cost_usd / stranded_cost_usd: that capacity's share of the node's GPU cost at the step.
with

node_steps as (
    select * from int_node_steps
),

nodes as (
    select * from stg_nodes
),

devices as (
    select * from stg_gpu_devices
),

usage as (
    select ts, device_key, pod_key
    from gpu_usage_steps
    where ts >= $window_start and ts < $window_end
),

recent_pods as (
    -- the same pod interval loaded by two sources counts once
    select distinct on (cluster, namespace, pod, valid_from) *
    from raw_pod_allocations
    where valid_from < $window_end and valid_to > $window_start - interval 7 day
    order by cluster, namespace, pod, valid_from, source
),

-- a node's GPU model as telemetry names it (DCGM modelName, as gpu_usage shows it), else
-- as its labels or the catalog do
recent_node_models as (
    select r.cluster, r.node, coalesce(any_value(g.gpu_model), any_value(r.gpu_model), any_value(c.device_model))
        as gpu_model
    from raw_nodes as r
    left join ref_instance_types as c using (instance_type)
    left join (
        select cluster, node, mode(gpu_model) as gpu_model
        from raw_gpu_devices
        where valid_from < $window_end and valid_to > $window_start - interval 7 day
        group by cluster, node
    ) as g using (cluster, node)
    where r.valid_from < $window_end and r.valid_to > $window_start - interval 7 day and r.gpu_count > 0
    group by r.cluster, r.node
),

node_models as (
    select node_key, mode(gpu_model) as gpu_model from devices group by node_key
),

-- free milli-GPUs per physical GPU per step (GPUs with nothing free have no row)
gpu_free as (
    select
        u.ts,
        d.node_key,
        d.nvlink_domain,
        d.gpu_uuid,
        round(1000 * sum(d.gpu_fraction), 6)::decimal(18, 6) as free_milli
    from usage as u
    join devices as d
        on d.device_key = u.device_key
        and u.ts >= d.valid_from and u.ts < d.valid_to
    where u.pod_key is null
    group by u.ts, d.node_key, d.nvlink_domain, d.gpu_uuid
),

domain_free as (
    select
        ts,
        node_key,
        nvlink_domain,
        sum(free_milli) as free_milli,
        count(*) filter (where free_milli = 1000) as free_whole_gpus,
        coalesce(list(free_milli) filter (where free_milli < 1000), []) as partial_milli
    from gpu_free
    group by ts, node_key, nvlink_domain
),

node_gpu_free as (
    select
        ts,
        node_key,
        sum(free_milli) as free_milli,
        sum(free_whole_gpus)::integer as free_whole_gpus,
        list_sort(flatten(list(partial_milli))) as partial_milli,
        max(free_whole_gpus) filter (where nvlink_domain is not null)::integer as nvlink_free_block
    from domain_free
    group by ts, node_key
),

nvlink_nodes as (
    select node_key from devices group by node_key having bool_or(nvlink_domain is not null)
),

-- GPU pods' CPU and memory requests on each node as step functions (+ at start, - at end)
request_events as (
    select cluster, node, time_bucket(to_seconds($step_seconds), valid_from) as changed_at,
           coalesce(cpu_request_cores, 0) as cpu, coalesce(memory_request_bytes, 0) as mem
    from recent_pods
    where valid_to > $window_start
    union all
    select cluster, node, valid_to, -coalesce(cpu_request_cores, 0), -coalesce(memory_request_bytes, 0)
    from recent_pods
    where valid_to > $window_start
),

requested as (
    select
        cluster,
        node,
        changed_at,
        -- until the next change: a range join on these intervals is an as-of join without its sort
        coalesce(lead(changed_at) over (partition by cluster, node order by changed_at), 'infinity'::timestamp)
            as changed_until,
        sum(sum(cpu)) over (partition by cluster, node order by changed_at) as cpu_requested,
        sum(sum(mem)) over (partition by cluster, node order by changed_at) as mem_requested
    from request_events
    group by cluster, node, changed_at
),

node_state as (
    select
        ns.ts,
        ns.cluster,
        ns.node,
        ns.instance_type,
        ns.capacity_type,
        coalesce(m.gpu_model, n.gpu_model) as gpu_model,
        ns.gpu_count,
        ns.gpu_cost_usd::double as gpu_cost_usd,
        coalesce(f.free_milli, 0) as free_milli,
        coalesce(f.free_whole_gpus, 0) as free_whole_gpus,
        coalesce(f.partial_milli, []::decimal(18, 6)[]) as partial_milli,
        case when ns.node_key in (select node_key from nvlink_nodes)
             then coalesce(f.nvlink_free_block, 0) end as nvlink_free_block,
        n.cpu_cores - coalesce(r.cpu_requested, 0) as cpu_free_cores,
        (n.memory_bytes - coalesce(r.mem_requested, 0))::bigint as memory_free_bytes
    from node_steps as ns
    join nodes as n on n.node_key = ns.node_key
    left join node_models as m on m.node_key = ns.node_key
    left join node_gpu_free as f on f.node_key = ns.node_key and f.ts = ns.ts
    left join requested as r
        on r.cluster = ns.cluster and r.node = ns.node and ns.ts >= r.changed_at and ns.ts < r.changed_until
),

pod_shapes as (
    select
        n.gpu_model,
        p.cluster,
        p.namespace,
        p.pod,
        case when p.mig_profile is not null and p.gpu_request is null then 1
             else coalesce(p.gpu_request, len(p.devices)) end as gpus,
        case when p.mig_profile is not null and p.gpu_request is null
             then least(1000, round(1000 * coalesce(try_cast(regexp_extract(p.mig_profile, '^(\d+)g\.', 1)
                                                             as integer), 7) / 7.0, 6))::decimal(18, 6)
             else 1000 end as milli,
        p.cpu_request_cores as cpu,
        p.memory_request_bytes as mem
    from recent_pods as p
    join recent_node_models as n using (cluster, node)
),

shape_counts as (
    select gpu_model, gpus, milli, cpu, mem, count(distinct concat_ws(chr(31), cluster, namespace, pod)) as pods
    from pod_shapes
    where gpus > 0
    group by gpu_model, gpus, milli, cpu, mem
),

ranked_shapes as (
    select
        *,
        row_number() over w as rank,
        (sum(pods) over w - pods) / sum(pods) over (partition by gpu_model) as share_before
    from shape_counts
    window w as (partition by gpu_model order by pods desc, gpus * milli desc, cpu desc nulls last,
                 mem desc nulls last rows between unbounded preceding and current row)
),

weighted_shapes as (
    select *, sum(pods) over (partition by gpu_model) as total_pods, pods / sum(pods) over (partition by gpu_model) as popularity
    from ranked_shapes
    where share_before < 0.95
),

states as (
    select distinct gpu_model, free_milli, free_whole_gpus, partial_milli, cpu_free_cores, memory_free_bytes
    from node_state
    where free_milli > 0
),

state_shape as (
    select
        s.*,
        m.popularity,
        m.pods,
        m.total_pods,
        m.gpus,
        m.rank,
        (m.cpu is null or s.cpu_free_cores is null or s.cpu_free_cores >= m.cpu - 1e-9) as cpu_fits,
        (m.mem is null or s.memory_free_bytes is null or s.memory_free_bytes >= m.mem) as mem_fits,
        case when m.milli >= 1000 then s.free_whole_gpus >= m.gpus
             else s.free_whole_gpus > 0 or coalesce(list_max(s.partial_milli), 0) >= m.milli end as gpus_fit,
        case when m.milli >= 1000 then list_sum(s.partial_milli)
             else list_sum(list_filter(s.partial_milli, lambda x: x < m.milli)) end as unusable_milli
    from states as s
    join weighted_shapes as m using (gpu_model)
),

state_frag as (
    select
        gpu_model, free_milli, free_whole_gpus, partial_milli, cpu_free_cores, memory_free_bytes,
        -- exact: integer pod counts x decimal milli-GPUs, one division
        sum(pods * case when gpus_fit and cpu_fits then coalesce(unusable_milli, 0)
                        else free_milli end) / any_value(total_pods) as frag_gpu_milli,
        bool_or(gpus_fit and cpu_fits and mem_fits) filter (where popularity >= 0.05) as common_fits,
        arg_min(case when not cpu_fits then 'cpu' when not mem_fits then 'memory' end, rank)
            filter (where popularity >= 0.05 and gpus_fit) as blocked_by
    from state_shape
    group by all
),

final as (
    select
        s.ts,
        s.cluster,
        s.node,
        s.instance_type,
        s.capacity_type,
        s.gpu_model,
        s.gpu_count,
        (s.free_milli / 1000)::double as free_gpus,
        s.free_whole_gpus,
        round(coalesce(f.frag_gpu_milli, 0)::double, 6) as frag_gpu_milli,
        s.free_whole_gpus as largest_free_block,
        s.nvlink_free_block,
        s.cpu_free_cores,
        s.memory_free_bytes,
        case when f.common_fits = false then (s.free_milli / 1000)::double else 0 end as stranded_gpus,
        case when f.common_fits = false then coalesce(f.blocked_by, 'gpus') end as stranded_reason,
        round(s.gpu_cost_usd * s.free_milli::double / 1000 / s.gpu_count, 15) as free_cost_usd,
        case when f.common_fits = false
             then round(s.gpu_cost_usd * s.free_milli::double / 1000 / s.gpu_count, 15) else 0 end as stranded_cost_usd
    from node_state as s
    left join state_frag as f
        on f.gpu_model is not distinct from s.gpu_model
        and f.free_milli = s.free_milli
        and f.free_whole_gpus = s.free_whole_gpus
        and f.partial_milli = s.partial_milli
        and f.cpu_free_cores is not distinct from s.cpu_free_cores
        and f.memory_free_bytes is not distinct from s.memory_free_bytes
)

select * from final
