-- materialize: incremental(day)
-- Per EC2 GPU instance and UTC day: hours and cost on the bill (effective, amortised) against
-- the hours and cost gpucost computed for its node, and why they differ. Billed instances
-- count when their type is a GPU/accelerator type of the catalog or their node was seen.
-- A billing period that straddles the day counts pro rata. explanation, first that applies:
--   billed, node not seen in telemetry | node has no instance id | no billing line items |
--   hours differ (node seen for fewer or more hours than billed) | matches (within 1 cent) |
--   price differs
with

billed_periods as (
    select * from stg_billed_instances
),

node_steps as (
    select * from int_node_steps
),

catalog as (
    select instance_type from ref_instance_types
),

billed as (
    select
        instance_id,
        max(instance_type) as instance_type,
        sum(overlap_s) / 3600.0 as billed_hours,
        sum(billed_cost::double * overlap_s / period_s) as billed_cost_usd,
        sum(effective_cost::double * overlap_s / period_s) as effective_cost_usd
    from (
        select
            *,
            epoch(least(charge_period_end, $window_end)) - epoch(greatest(charge_period_start, $window_start))
                as overlap_s,
            epoch(charge_period_end) - epoch(charge_period_start) as period_s
        from billed_periods
    )
    group by instance_id
),

computed as (
    select
        coalesce(instance_id, node) as match_key,
        instance_id,
        min(node) as node,
        min(instance_type) as instance_type,
        count(*) * $step_seconds / 3600.0 as computed_hours,
        sum(cost_usd)::double as computed_cost_usd
    from node_steps
    group by coalesce(instance_id, node), instance_id
),

joined as (
    select
        coalesce(c.instance_id, b.instance_id) as instance_id,
        c.node,
        coalesce(c.instance_type, b.instance_type) as instance_type,
        b.billed_hours,
        b.billed_cost_usd,
        b.effective_cost_usd,
        c.computed_hours,
        c.computed_cost_usd,
        c.match_key is null as unseen,
        b.instance_id is null as unbilled
    from computed as c
    full outer join billed as b on b.instance_id = c.instance_id
    where c.match_key is not null
        or b.instance_type in (select instance_type from catalog)
),

final as (
    select
        $window_start as day,
        instance_id,
        node,
        instance_type,
        billed_hours,
        billed_cost_usd,
        effective_cost_usd,
        computed_hours,
        computed_cost_usd,
        coalesce(effective_cost_usd, 0) - coalesce(computed_cost_usd, 0) as difference_usd,
        case
            when unseen then 'billed, node not seen in telemetry'
            when instance_id is null then 'node has no instance id'
            when unbilled then 'no billing line items'
            when abs(billed_hours - computed_hours) > $step_seconds / 3600.0 then 'hours differ'
            when abs(coalesce(effective_cost_usd, 0) - coalesce(computed_cost_usd, 0)) <= 0.01 then 'matches'
            else 'price differs'
        end as explanation
    from joined
    order by instance_id, node
)

select * from final
