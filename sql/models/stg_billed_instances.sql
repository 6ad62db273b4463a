-- materialize: temp
-- Billed instance-hours per EC2 instance and charge period, from billing line items
-- (FOCUS columns): rows whose resource_id is an instance id (i-...) and whose pricing or
-- consumed unit is hours — usage, Savings Plan/RI covered usage and credits alike, so that
-- effective_cost is the amortised cost of running the instance. Data transfer and EBS are
-- billed in other units and stay out. usd_per_hour = effective cost / period length.
with

lines as (
    select * from raw_billing_line_items
    where charge_period_start < $window_end and charge_period_end > $window_start
        and resource_id like 'i-%'
        and lower(coalesce(pricing_unit, consumed_unit, '')) in ('hours', 'hour', 'hrs')
),

periods as (
    select
        resource_id as instance_id,
        charge_period_start,
        charge_period_end,
        sum(effective_cost) as effective_cost,
        sum(billed_cost) as billed_cost,
        sum(list_cost) as list_cost,
        max(instance_type) as instance_type
    from lines
    group by resource_id, charge_period_start, charge_period_end
),

final as (
    select
        *,
        effective_cost::double
            / (epoch(charge_period_end) - epoch(charge_period_start)) * 3600.0 as usd_per_hour
    from periods
    where charge_period_end > charge_period_start
)

select * from final
