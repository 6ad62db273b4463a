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

-- aggregate on the narrow keys first, then name them: grouping 1.5 M rows a day by 13 text
-- columns costs twice as much
per_holder as (
    select
        date_trunc('hour', ts) as hour,
        device_key,
        pod_key,
        count(*) as steps,
        max(ts) as last_ts,
        sum(gpu_hours) as gpu_hours,
        sum(gpu_hours) filter (where state = 'active') as active_gpu_hours,
        sum(gpu_hours) filter (where state = 'allocated_idle') as idle_gpu_hours,
        sum(gpu_hours) filter (where state = 'unallocated') as unallocated_gpu_hours,
        sum(gpu_hours) filter (where state = 'no_data') as no_data_gpu_hours,
        sum(cost_usd::decimal(24, 15)) as cost_usd,
        sum(cost_usd::decimal(24, 15)) filter (where state = 'active') as active_cost_usd,
        sum(cost_usd::decimal(24, 15)) filter (where state = 'allocated_idle') as idle_cost_usd,
        sum(cost_usd::decimal(24, 15)) filter (where state = 'unallocated') as unallocated_cost_usd,
        sum(cost_usd::decimal(24, 15)) filter (where state = 'no_data') as no_data_cost_usd,
        sum(util_pct * gpu_hours) filter (where util_pct is not null) as util_gpu_hours,
        sum(gpu_hours) filter (where util_pct is not null) as util_observed_gpu_hours,
        max(mem_used_bytes) as mem_used_max_bytes,
        sum(mem_used_bytes * gpu_hours) filter (where mem_used_bytes is not null) as mem_used_byte_hours,
        sum(gpu_hours) filter (where mem_used_bytes is not null) as mem_observed_gpu_hours,
        max(mem_total_bytes) as mem_total_bytes,
        count(*) > count(mem_total_bytes) as mem_total_missing,
        sum(power_w * gpu_hours) filter (where power_w is not null) as power_w_hours,
        sum(gpu_hours) filter (where power_w is not null) as power_observed_gpu_hours,
        max(power_w) as power_max_w
    from steps
    group by all
),

final as (
    select
        h.hour,
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
        sum(h.steps) as steps,
        max(h.last_ts) as last_ts,
        round(sum(h.gpu_hours), 12) as gpu_hours,
        round(coalesce(sum(h.active_gpu_hours), 0), 12) as active_gpu_hours,
        round(coalesce(sum(h.idle_gpu_hours), 0), 12) as idle_gpu_hours,
        round(coalesce(sum(h.unallocated_gpu_hours), 0), 12) as unallocated_gpu_hours,
        round(coalesce(sum(h.no_data_gpu_hours), 0), 12) as no_data_gpu_hours,
        sum(h.cost_usd)::double as cost_usd,
        coalesce(sum(h.active_cost_usd), 0)::double as active_cost_usd,
        coalesce(sum(h.idle_cost_usd), 0)::double as idle_cost_usd,
        coalesce(sum(h.unallocated_cost_usd), 0)::double as unallocated_cost_usd,
        coalesce(sum(h.no_data_cost_usd), 0)::double as no_data_cost_usd,
        round(coalesce(sum(h.util_gpu_hours), 0), 10) as util_gpu_hours,
        round(coalesce(sum(h.util_observed_gpu_hours), 0), 12) as util_observed_gpu_hours,
        max(h.mem_used_max_bytes) as mem_used_max_bytes,
        round(coalesce(sum(h.mem_used_byte_hours), 0), 3) as mem_used_byte_hours,
        round(coalesce(sum(h.mem_observed_gpu_hours), 0), 12) as mem_observed_gpu_hours,
        -- a step without its own total takes the device's
        greatest(max(h.mem_total_bytes), max(case when h.mem_total_missing then d.mem_total_bytes end))
            as mem_total_bytes,
        round(coalesce(sum(h.power_w_hours), 0), 9) as power_w_hours,
        round(coalesce(sum(h.power_observed_gpu_hours), 0), 12) as power_observed_gpu_hours,
        max(h.power_max_w) as power_max_w
    from per_holder as h
    join devices as d on d.device_key = h.device_key
    left join pods as p on p.pod_key = h.pod_key
    group by all
    order by hour, cluster, node, device_id, namespace, job
)

select * from final
