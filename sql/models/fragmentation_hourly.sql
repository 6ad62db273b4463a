-- materialize: incremental(hour)
-- Hourly rollup of fragmentation for presenters (the dashboard's Fragmentation page): one
-- row per UTC hour and GPU node, with sums over the node's steps in the hour. A fleet mean
-- over a window is sum(x) / the window's steps, where the window's steps are the sum over its
-- hours of hour_steps (the steps of the hour at which any node had a row).
-- Decimal sums: identical tables on every rebuild.
with

frag as (
    select *
    from fragmentation
    where ts >= $window_start and ts < $window_end
),

clock as (
    select time_bucket(interval 1 hour, ts) as hour, cluster, count(distinct ts) as hour_steps
    from frag
    group by all
),

reasons as (
    -- the most frequent stranded reason of a node in the hour (ties: alphabetical)
    select hour, cluster, node, stranded_reason
    from (
        select time_bucket(interval 1 hour, ts) as hour, cluster, node, stranded_reason,
               row_number() over (partition by time_bucket(interval 1 hour, ts), cluster, node
                                  order by count(*) desc, stranded_reason) as rank
        from frag
        where stranded_reason is not null
        group by time_bucket(interval 1 hour, ts), cluster, node, stranded_reason
    )
    where rank = 1
),

final as (
    select
        time_bucket(interval 1 hour, f.ts) as hour,
        f.cluster,
        f.node,
        any_value(f.instance_type) as instance_type,
        any_value(f.capacity_type) as capacity_type,
        any_value(f.gpu_model) as gpu_model,
        max(f.gpu_count) as gpu_count,
        count(*) as steps,
        any_value(c.hour_steps) as hour_steps,
        sum(f.free_gpus::decimal(18, 6))::double as free_gpus,
        sum(f.stranded_gpus::decimal(18, 6))::double as stranded_gpus,
        sum(f.frag_gpu_milli::decimal(24, 6))::double as frag_gpu_milli,
        sum(f.largest_free_block) as largest_free_block,
        sum(f.nvlink_free_block) as nvlink_free_block,
        any_value(r.stranded_reason) as stranded_reason,
        sum(f.free_cost_usd::decimal(30, 15))::double as free_cost_usd,
        sum(f.stranded_cost_usd::decimal(30, 15))::double as stranded_cost_usd
    from frag as f
    join clock as c on c.hour = time_bucket(interval 1 hour, f.ts) and c.cluster = f.cluster
    left join reasons as r on r.hour = time_bucket(interval 1 hour, f.ts) and r.cluster = f.cluster and r.node = f.node
    group by time_bucket(interval 1 hour, f.ts), f.cluster, f.node
)

select * from final
