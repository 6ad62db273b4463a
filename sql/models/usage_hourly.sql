-- materialize: incremental(hour)
-- Hourly rollup of gpu_usage for presenters (dashboard pages, /metrics, the weekly report):
-- one row per UTC hour, GPU device and holder (pod; none = unallocated), with GPU-hours and
-- USD split by state in columns. A month of a 1,000-GPU fleet at a 60 s step is ~47 M
-- gpu_usage rows and under 1 M rows here, so a page reads this instead of gpu_usage.
-- Columns (units in the names):
--   *_gpu_hours / *_cost_usd  per state: active, idle (= allocated_idle), unallocated, no_data;
--                             gpu_hours and cost_usd are the totals over all states.
--   team                      the pod's team, else its namespace; null when unallocated.
--   util_gpu_hours            sum of util_pct x gpu_hours over steps with a util value, so
--                             util % = util_gpu_hours / util_observed_gpu_hours.
--   mem_used_byte_hours       sum of mem_used_bytes x gpu_hours; / mem_observed_gpu_hours = mean.
--   power_w_hours             sum of power_w x gpu_hours; / power_observed_gpu_hours = mean W.
--   steps, last_ts            gpu_usage rows rolled up and the last step start (freshness).
-- Floating-point sums are rounded (GPU-hours to 1e-12, util to 1e-10, byte-hours to 1e-3,
-- W-hours to 1e-9) so that a rebuild gives identical rows whatever order the sum ran in;
-- costs are exact decimal sums.
-- The schema's table and its one-time backfill are in migrations/0004_usage_hourly.sql.
with

steps as (
    select *
    from gpu_usage_steps
    where ts >= $window_start and ts < $window_end
),

devices as (
    select * from gpu_usage_devices
),

pods as (
    select * from gpu_usage_pods
),

joined as (
    select
        date_trunc('hour', s.ts) as hour,
        s.ts,
        d.cluster,
        d.node,
        d.instance_type,
        d.capacity_type,
        d.gpu_model,
        d.device_key,
        d.device_id,
        d.gpu_index,
        d.mig_profile,
        p.namespace,
        p.job,
        coalesce(p.team, p.namespace) as team,
        s.state,
        s.util_pct,
        s.mem_used_bytes,
        coalesce(s.mem_total_bytes, d.mem_total_bytes) as mem_total_bytes,
        s.power_w,
        s.gpu_hours,
        s.cost_usd
    from steps as s
    join devices as d on d.device_key = s.device_key
    left join pods as p on p.pod_key = s.pod_key
),

final as (
    select
        hour,
        cluster,
        node,
        instance_type,
        capacity_type,
        gpu_model,
        device_key,
        device_id,
        gpu_index,
        mig_profile,
        namespace,
        job,
        team,
        count(*) as steps,
        max(ts) as last_ts,
        round(sum(gpu_hours), 12) as gpu_hours,
        round(coalesce(sum(gpu_hours) filter (where state = 'active'), 0), 12) as active_gpu_hours,
        round(coalesce(sum(gpu_hours) filter (where state = 'allocated_idle'), 0), 12) as idle_gpu_hours,
        round(coalesce(sum(gpu_hours) filter (where state = 'unallocated'), 0), 12) as unallocated_gpu_hours,
        round(coalesce(sum(gpu_hours) filter (where state = 'no_data'), 0), 12) as no_data_gpu_hours,
        sum(cost_usd::decimal(24, 15))::double as cost_usd,
        coalesce(sum(cost_usd::decimal(24, 15)) filter (where state = 'active'), 0)::double as active_cost_usd,
        coalesce(sum(cost_usd::decimal(24, 15)) filter (where state = 'allocated_idle'), 0)::double as idle_cost_usd,
        coalesce(sum(cost_usd::decimal(24, 15)) filter (where state = 'unallocated'), 0)::double as unallocated_cost_usd,
        coalesce(sum(cost_usd::decimal(24, 15)) filter (where state = 'no_data'), 0)::double as no_data_cost_usd,
        round(coalesce(sum(util_pct * gpu_hours) filter (where util_pct is not null), 0), 10) as util_gpu_hours,
        round(coalesce(sum(gpu_hours) filter (where util_pct is not null), 0), 12) as util_observed_gpu_hours,
        max(mem_used_bytes) as mem_used_max_bytes,
        round(coalesce(sum(mem_used_bytes * gpu_hours) filter (where mem_used_bytes is not null), 0), 3)
            as mem_used_byte_hours,
        round(coalesce(sum(gpu_hours) filter (where mem_used_bytes is not null), 0), 12) as mem_observed_gpu_hours,
        max(mem_total_bytes) as mem_total_bytes,
        round(coalesce(sum(power_w * gpu_hours) filter (where power_w is not null), 0), 9) as power_w_hours,
        round(coalesce(sum(gpu_hours) filter (where power_w is not null), 0), 12) as power_observed_gpu_hours,
        max(power_w) as power_max_w
    from joined
    group by all
    order by hour, cluster, node, device_id, namespace, job
)

select * from final
