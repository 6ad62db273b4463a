-- materialize: incremental(window_start)
-- Per node per build window (one UTC day) and price source: hours billed, mean price,
-- whole-node cost and the GPUs' share of it (USD).
with

node_steps as (
    select * from int_node_steps
),

final as (
    select
        $window_start as window_start,
        $window_end as window_end,
        cluster,
        node,
        instance_type,
        capacity_type,
        region,
        zone,
        price_source,
        count(*) * $step_seconds / 3600.0 as hours,
        avg(usd_per_hour::decimal(18, 9))::double as usd_per_hour,
        max(gpu_count) as gpu_count,
        (sum(gpu_cost_usd) / nullif(sum(cost_usd), 0))::double as gpu_share,
        sum(cost_usd)::double as cost_usd,
        sum(gpu_cost_usd)::double as gpu_cost_usd
    from node_steps
    group by cluster, node, instance_type, capacity_type, region, zone, price_source
    order by cluster, node, price_source, instance_type
)

select * from final
