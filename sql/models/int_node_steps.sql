-- materialize: temp
-- One row per GPU node per step with its price and cost (USD).
-- Price resolution, first that applies (recorded in price_source):
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

steps as (
    select
        n.*,
        unnest(range(time_bucket(to_seconds($step_seconds), n.valid_from), n.valid_to,
                     to_seconds($step_seconds))) as ts
    from nodes as n
),

with_spot as (
    select s.*, p.usd_per_hour as spot_usd_per_hour
    from steps as s
    asof left join (select * from prices where kind = 'spot') as p
        on p.instance_type = s.instance_type
        and p.region = s.region
        and p.zone = coalesce(s.zone, '')
        and s.ts >= p.effective_at
),

with_list as (
    select s.*, p.usd_per_hour as list_usd_per_hour
    from with_spot as s
    asof left join (select * from prices where kind = 'on_demand') as p
        on p.instance_type = s.instance_type
        and p.region = s.region
        and s.ts >= p.effective_at
),

resolved as (
    select
        s.*,
        case
            when s.capacity_type = 'spot' and s.spot_usd_per_hour is not null then 'spot_history'
            when o.usd_per_hour is not null then 'override'
            when s.list_usd_per_hour is not null then 'on_demand_list'
            when c.usd_per_hour is not null then 'catalog_list'
        end as price_source,
        case
            when s.capacity_type = 'spot' and s.spot_usd_per_hour is not null then s.spot_usd_per_hour
            when o.usd_per_hour is not null then o.usd_per_hour
            when s.list_usd_per_hour is not null then s.list_usd_per_hour
            else c.usd_per_hour
        end as usd_per_hour
    from with_list as s
    left join overrides as o using (instance_type)
    left join catalog as c using (instance_type)
),

shared as (
    select
        *,
        coalesce(
            $gpu_share_fixed,
            greatest(0.0, least(1.0, 1.0 - (cpu_cores * $cpu_usd_per_vcpu_hour
                + memory_bytes / 1073741824.0 * $ram_usd_per_gib_hour) / usd_per_hour))
        ) as gpu_share
    from resolved
),

final as (
    select
        cluster,
        node,
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
    from shared
)

select * from final
