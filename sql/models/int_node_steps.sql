-- materialize: temp
-- One row per GPU node per step with its price and cost (USD). Prices are resolved once
-- per segment of constant price (between change points), then expanded to steps.
-- Price resolution, first that applies (recorded in price_source):
--   billing        the instance's billed effective cost for the period covering the step
--                  (amortised: Savings Plans, RIs and credits included; stg_billed_instances)
--   spot_history   spot node: the last spot price published for its type and zone before the step
--   override       [prices.overrides] from the settings
--   on_demand_list the last on-demand list price for its type and region (AWS Pricing API)
--   catalog_list   the packaged catalog's us-east-1 list price
-- A node no rule prices has a null price; the build refuses to write it.
-- GPU share: $gpu_share_fixed when set, else 1 - (vCPU x $cpu_usd_per_vcpu_hour +
-- GiB x $ram_usd_per_gib_hour) / price, clamped to [0, 1].
with

nodes as (
    select * from stg_nodes
),

prices as (
    select * from stg_prices
),

catalog as (
    select instance_type, usd_per_hour from ref_instance_types
),

overrides as (
    select instance_type, usd_per_hour from cfg_price_overrides
),

billed as (
    select * from stg_billed_instances
),

starts as (
    select *, time_bucket(to_seconds($step_seconds), valid_from) as first_step
    from nodes
),

-- A price published within a step applies from the next step: change points are the
-- node's first step and every later step boundary at which a relevant price changed.
price_changes as (
    select
        n.node_key,
        time_bucket(to_seconds($step_seconds),
                    p.effective_at + to_seconds($step_seconds) - interval 1 microsecond) as starts_at
    from starts as n
    join prices as p
        on p.instance_type = n.instance_type
        and p.region = n.region
        and (p.kind = 'on_demand' or (n.capacity_type = 'spot' and p.zone = coalesce(n.zone, '')))
        and p.effective_at > n.first_step and p.effective_at < n.valid_to
),

-- billing periods start and end on the hour; both ends change the price
billing_changes as (
    select n.node_key, b.boundary as starts_at
    from starts as n
    join (select instance_id, charge_period_start as boundary from billed
          union
          select instance_id, charge_period_end from billed) as b
        on b.instance_id = n.instance_id
        and b.boundary > n.first_step and b.boundary < n.valid_to
),

change_points as (
    select node_key, first_step as starts_at from starts
    union
    select node_key, starts_at from price_changes
    union
    select node_key, starts_at from billing_changes
),

points as (
    select n.*, c.starts_at
    from change_points as c
    join starts as n using (node_key)
    where c.starts_at < n.valid_to
),

with_spot as (
    select s.*, p.usd_per_hour as spot_usd_per_hour
    from points as s
    asof left join (select * from prices where kind = 'spot') as p
        on p.instance_type = s.instance_type
        and p.region = s.region
        and p.zone = coalesce(s.zone, '')
        and s.starts_at >= p.effective_at
),

with_list as (
    select s.*, p.usd_per_hour as list_usd_per_hour
    from with_spot as s
    asof left join (select * from prices where kind = 'on_demand') as p
        on p.instance_type = s.instance_type
        and p.region = s.region
        and s.starts_at >= p.effective_at
),

with_billing as (
    select
        s.*,
        case when s.starts_at < b.charge_period_end then b.usd_per_hour end as billed_usd_per_hour
    from with_list as s
    asof left join billed as b
        on b.instance_id = s.instance_id and s.starts_at >= b.charge_period_start
),

resolved as (
    select
        s.*,
        case
            when s.billed_usd_per_hour is not null then 'billing'
            when s.capacity_type = 'spot' and s.spot_usd_per_hour is not null then 'spot_history'
            when o.usd_per_hour is not null then 'override'
            when s.list_usd_per_hour is not null then 'on_demand_list'
            when c.usd_per_hour is not null then 'catalog_list'
        end as price_source,
        case
            when s.billed_usd_per_hour is not null then s.billed_usd_per_hour
            when s.capacity_type = 'spot' and s.spot_usd_per_hour is not null then s.spot_usd_per_hour
            when o.usd_per_hour is not null then o.usd_per_hour
            when s.list_usd_per_hour is not null then s.list_usd_per_hour
            else c.usd_per_hour
        end as usd_per_hour
    from with_billing as s
    left join overrides as o using (instance_type)
    left join catalog as c using (instance_type)
),

segments as (
    select
        *,
        coalesce(lead(starts_at) over (partition by node_key order by starts_at), valid_to) as segment_end
    from resolved
),

shared as (
    select
        *,
        coalesce(
            $gpu_share_fixed,
            greatest(0.0, least(1.0, 1.0 - (cpu_cores * $cpu_usd_per_vcpu_hour
                + memory_bytes / 1073741824.0 * $ram_usd_per_gib_hour) / usd_per_hour))
        ) as gpu_share
    from segments
),

steps as (
    select *, unnest(range(starts_at, segment_end, to_seconds($step_seconds))) as ts
    from shared
),

final as (
    select
        node_key,
        cluster,
        node,
        instance_id,
        ts,
        instance_type,
        capacity_type,
        region,
        zone,
        gpu_count,
        price_source,
        usd_per_hour,
        gpu_share,
        (usd_per_hour * $step_seconds / 3600.0)::decimal(24, 15) as cost_usd,
        (usd_per_hour * $step_seconds / 3600.0 * gpu_share)::decimal(24, 15) as gpu_cost_usd
    from steps
)

select * from final
