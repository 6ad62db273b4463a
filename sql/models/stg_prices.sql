-- materialize: temp
-- Hourly prices (USD per instance-hour) that may apply to the window: every spot and
-- on-demand price published before the window's end (a price holds until the next one).
with

prices as (
    select * from raw_prices
    where effective_at < $window_end
),

final as (
    select distinct on (kind, region, zone, instance_type, effective_at)
        kind,
        region,
        coalesce(zone, '') as zone,
        instance_type,
        effective_at,
        usd_per_hour
    from prices
    order by kind, region, zone, instance_type, effective_at, source
)

select * from final
