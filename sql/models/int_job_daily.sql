-- materialize: incremental(day)
-- Per job, day and GPU model, from the day's gpu_usage rows a pod held: GPU-hours and cost
-- by state, the utilisation numerator, the memory peak and the most GPUs held at one step.
-- "Observed" = active + allocated_idle; no_data steps are counted apart. spot_*: the observed
-- GPU-hours and cost on spot nodes.
with

usage as (
    select f.*, p.cluster, p.namespace, p.job, p.team, d.gpu_model, d.capacity_type
    from gpu_usage_steps as f
    join gpu_usage_pods as p on p.pod_key = f.pod_key
    join gpu_usage_devices as d on d.device_key = f.device_key
    where f.ts >= $window_start and f.ts < $window_end
),

held as (
    select
        *,
        state in ('active', 'allocated_idle') as observed,
        gpu_hours::decimal(24, 15) as gpu_hours_d,
        cost_usd::decimal(24, 15) as cost_d
    from usage
),

job_steps as (
    select cluster, namespace, job, ts, sum(gpu_hours_d) * 3600 / $step_seconds as gpus
    from held
    group by cluster, namespace, job, ts
),

peaks as (
    select cluster, namespace, job, max(gpus) as gpus_max
    from job_steps
    group by cluster, namespace, job
),

by_model as (
    select
        cluster,
        namespace,
        job,
        gpu_model,
        min(team) as team,
        min(ts) as first_ts,
        max(ts) as last_ts,
        coalesce(sum(gpu_hours_d) filter (where observed), 0) as gpu_hours,
        coalesce(sum(gpu_hours_d) filter (where state = 'active'), 0) as active_gpu_hours,
        coalesce(sum(gpu_hours_d) filter (where state = 'allocated_idle'), 0) as idle_gpu_hours,
        coalesce(sum(gpu_hours_d) filter (where state = 'no_data'), 0) as no_data_gpu_hours,
        sum(util_pct::decimal(9, 4) * gpu_hours_d) filter (where observed) as util_gpu_hours,
        max(mem_used_bytes) as mem_peak_bytes,
        coalesce(sum(cost_d) filter (where observed), 0) as cost_usd,
        coalesce(sum(cost_d) filter (where state = 'allocated_idle'), 0) as idle_cost_usd,
        coalesce(sum(cost_d) filter (where state = 'no_data'), 0) as no_data_cost_usd,
        coalesce(sum(gpu_hours_d) filter (where observed and capacity_type = 'spot'), 0) as spot_gpu_hours,
        coalesce(sum(cost_d) filter (where observed and capacity_type = 'spot'), 0) as spot_cost_usd
    from held
    group by cluster, namespace, job, gpu_model
),

final as (
    select $window_start as day, m.*, p.gpus_max
    from by_model as m
    join peaks as p using (cluster, namespace, job)
)

select * from final
